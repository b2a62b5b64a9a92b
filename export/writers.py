"""Row writers of an export: JSON Lines, CSV and Parquet, one row per ad, written in batches.

Every writer writes to ``<path>.partial`` and renames it to ``<path>`` on :meth:`RowWriter.close`, so a
failed export leaves no file that looks complete. CSV holds ``indicators`` and ``labels`` as JSON
strings; Parquet holds them as nested types (schema :func:`parquet_schema`) and needs pyarrow.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
from datetime import date, datetime
from pathlib import Path
from typing import Any

from export.errors import ExportError

FORMATS = ("jsonl", "csv", "parquet")
"""Output formats (``--format``)."""

FIELDS = ("ad_id", "text", "ad_type", "site", "posted_at", "first_seen", "indicators", "risk",
          "model_version", "labels", "split")
"""The columns of every export, in order (issue #8)."""


def require_pyarrow() -> Any:
    """Import pyarrow (and its Parquet module).

    Raises:
        ExportError: pyarrow is not installed.
    """
    try:
        import pyarrow as pa  # type: ignore[import-untyped]
        import pyarrow.parquet  # type: ignore[import-untyped]
    except ImportError as exc:
        raise ExportError("--format parquet needs pyarrow (pip install 'pyarrow>=14'); "
                          "or export with --format jsonl or csv") from exc
    return pa


def parquet_schema() -> Any:
    """The Arrow schema of a Parquet export (``posted_at`` a date, ``first_seen`` a UTC timestamp,
    nested indicators and labels)."""
    pa = require_pyarrow()
    indicator = pa.struct([("indicator_id", pa.string()), ("category", pa.string()),
                           ("start", pa.int32()), ("end", pa.int32())])
    labels = pa.struct([("label", pa.int8()), ("state", pa.string()), ("n_reviewers", pa.int32()),
                        ("n_votes", pa.int32()), ("agreement", pa.float64()), ("reasons", pa.list_(pa.string()))])
    return pa.schema([
        ("ad_id", pa.int64()), ("text", pa.string()), ("ad_type", pa.string()), ("site", pa.string()),
        ("posted_at", pa.date32()), ("first_seen", pa.timestamp("us", tz="UTC")),
        ("indicators", pa.list_(indicator)), ("risk", pa.float64()), ("model_version", pa.string()),
        ("labels", labels), ("split", pa.string()),
    ])


class RowWriter:
    """Base writer: ``write(rows)`` batches, ``close()`` to finish (``abort()`` on failure).

    Attributes:
        path: the final file.
        rows: rows written so far.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.partial = path.with_name(path.name + ".partial")
        self.rows = 0

    def write(self, rows: list[dict[str, Any]]) -> None:
        """Write a batch of row dicts (keys :data:`FIELDS`)."""
        raise NotImplementedError

    def _finish(self) -> None:
        raise NotImplementedError

    def close(self) -> str:
        """Finish the file, move it into place and return its SHA-256 (hex)."""
        self._finish()
        os.replace(self.partial, self.path)
        digest = hashlib.sha256()
        with open(self.path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()

    def abort(self) -> None:
        """Drop the partial file."""
        with contextlib.suppress(Exception):  # best effort on an already failing export
            self._finish()
        self.partial.unlink(missing_ok=True)


class JsonlWriter(RowWriter):
    """One JSON object per line, UTF-8."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._fh = open(self.partial, "w", encoding="utf-8")  # noqa: SIM115 - open across write() calls

    def write(self, rows: list[dict[str, Any]]) -> None:
        self._fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        self.rows += len(rows)

    def _finish(self) -> None:
        self._fh.close()


class CsvWriter(RowWriter):
    """RFC 4180 CSV with a header; ``indicators`` and ``labels`` are JSON strings, nulls empty."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._fh = open(self.partial, "w", encoding="utf-8", newline="")  # noqa: SIM115 - open across write() calls
        self._csv = csv.writer(self._fh)
        self._csv.writerow(FIELDS)

    def write(self, rows: list[dict[str, Any]]) -> None:
        for r in rows:
            self._csv.writerow([
                json.dumps(r[k], ensure_ascii=False) if k in ("indicators", "labels") and r[k] is not None
                else "" if r[k] is None else r[k]
                for k in FIELDS
            ])
        self.rows += len(rows)

    def _finish(self) -> None:
        self._fh.close()


class ParquetWriter(RowWriter):
    """Parquet (zstd) with :func:`parquet_schema`, one row group per batch.

    Raises:
        ExportError: pyarrow is not installed.
    """

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._pa = require_pyarrow()
        import pyarrow.parquet as pq  # type: ignore[import-untyped]

        self._schema = parquet_schema()
        self._writer = pq.ParquetWriter(str(self.partial), self._schema, compression="zstd")

    def write(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        data = [dict(r, first_seen=datetime.fromisoformat(r["first_seen"]) if r["first_seen"] else None,
                     posted_at=date.fromisoformat(r["posted_at"]) if r["posted_at"] else None) for r in rows]
        self._writer.write_table(self._pa.Table.from_pylist(data, schema=self._schema))
        self.rows += len(rows)

    def _finish(self) -> None:
        self._writer.close()


def open_writer(fmt: str, out_dir: Path) -> RowWriter:
    """A writer of ``out_dir/ads.<fmt>``.

    Raises:
        ExportError: unknown format, or Parquet without pyarrow.
    """
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")
    cls = {"jsonl": JsonlWriter, "csv": CsvWriter, "parquet": ParquetWriter}[fmt]
    return cls(out_dir / f"ads.{fmt}")

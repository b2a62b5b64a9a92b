"""Streaming readers and writers for ``adwatch score``: JSONL or EMSCAD-style CSV in, JSONL out.

Input formats (chosen by file extension, ``.csv`` or anything else = JSONL):

* JSONL: one object per line with ``id`` and ``text``, optional ``ad_type`` (job/escort/other) and
  ``lang``. Other keys are kept as metadata.
* CSV with EMSCAD ``fake_job_postings.csv`` columns (``job_id, title, ..., fraudulent``): ``id`` is
  ``job_id``; the scored text is :func:`emscad_text` of the row; ``ad_type`` is ``job``.
  A CSV with ``id`` and ``text`` columns is read like JSONL.

Rows are read lazily (constant memory). A malformed row (bad JSON, bad CSV quoting, no text) becomes
a :class:`RowError` naming the file and line; the caller decides to skip it or stop.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO

from scoring.datasets import EMSCAD_TEXT_FIELDS
from scoring.types import AD_TYPES, Ad, Score


@dataclass(slots=True)
class RowError:
    """A row that could not be read: ``file``, 1-based physical ``line`` and a readable ``message``."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


def emscad_text(row: dict[str, str]) -> str:
    """Join the non-empty EMSCAD text columns of ``row`` (:data:`scoring.datasets.EMSCAD_TEXT_FIELDS`,
    the ones the model was trained on) with blank lines; offsets point into this string."""
    return "\n\n".join(v.strip() for k in EMSCAD_TEXT_FIELDS if (v := (row.get(k) or "")).strip())


def _ad_from_mapping(obj: dict[str, Any], file: str, line: int) -> Ad | RowError:
    text = obj.get("text")
    if not isinstance(text, str) or not text.strip():
        return RowError(file, line, "row has no 'text'")
    ad_id = obj.get("id")
    ad_type = obj.get("ad_type") or None
    if ad_type is not None and ad_type not in AD_TYPES:
        return RowError(file, line, f"ad_type {ad_type!r} is not one of {', '.join(AD_TYPES)}")
    meta = {k: v for k, v in obj.items() if k not in ("id", "text", "ad_type", "lang")}
    return Ad(id=str(ad_id if ad_id is not None else f"line-{line}"), text=text, ad_type=ad_type,
              lang=obj.get("lang") or None, metadata=meta)


def _read_jsonl(stream: io.TextIOBase, name: str) -> Iterator[Ad | RowError]:
    for line_no, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield RowError(name, line_no, f"bad JSON: {exc.msg} (column {exc.colno})")
            continue
        if not isinstance(obj, dict):
            yield RowError(name, line_no, f"expected a JSON object, got {type(obj).__name__}")
            continue
        yield _ad_from_mapping(obj, name, line_no)


def _read_csv(stream: io.TextIOBase, name: str) -> Iterator[Ad | RowError]:
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    reader = csv.reader(stream, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        yield RowError(name, reader.line_num, f"bad CSV header: {exc}")
        return
    emscad = "job_id" in header and "description" in header
    if not emscad and not {"id", "text"} <= set(header):
        yield RowError(name, 1, "CSV needs EMSCAD columns (job_id, title, description, ...) or 'id' and 'text'")
        return
    while True:
        start = reader.line_num + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield RowError(name, start, f"bad CSV quoting: {exc}")
            continue
        if not values:
            continue
        if len(values) != len(header):
            yield RowError(name, start, f"expected {len(header)} fields, found {len(values)}")
            continue
        row = dict(zip(header, values))
        if emscad:
            text = emscad_text(row)
            if not text:
                yield RowError(name, start, "row has no text (title, description, ... are empty)")
                continue
            meta = {k: v for k, v in row.items() if k not in EMSCAD_TEXT_FIELDS and k != "job_id"}
            yield Ad(id=row["job_id"], text=text, ad_type="job", metadata=meta)
        else:
            yield _ad_from_mapping(row, name, start)


class InputReader:
    """Iterate over the ads of one input file, reporting bytes read for progress.

    Args:
        path: a ``.csv`` file or a JSONL file.

    Raises:
        FileNotFoundError: ``path`` does not exist (message names it).
    """

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise FileNotFoundError(f"input file not found: {path}")
        self.path = path
        self.size = path.stat().st_size
        self._raw: BinaryIO | None = None

    @property
    def bytes_read(self) -> int:
        """Bytes consumed so far (read-ahead included), for a progress bar."""
        return self._raw.tell() if self._raw is not None and not self._raw.closed else self.size

    def __iter__(self) -> Iterator[Ad | RowError]:
        with open(self.path, "rb") as raw:
            self._raw = raw
            text = io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="")
            reader = _read_csv if self.path.suffix.lower() == ".csv" else _read_jsonl
            yield from reader(text, str(self.path))


def score_to_json(score: Score) -> dict[str, Any]:
    """The output object of ``adwatch score`` for one ad (offsets into the input text)."""
    return {
        "id": score.ad_id,
        "ad_type": score.ad_type,
        "lang": score.lang,
        "risk": round(score.risk, 4),
        "band": score.band,
        "model_version": score.model_version,
        "indicators": [
            {"id": h.id, "category": h.category, "start": h.start, "end": h.end, "text": h.text, "weight": h.weight}
            for h in score.indicators
        ],
        "entities": [asdict(e) for e in score.entities],
        "explanation": score.explanation,
    }

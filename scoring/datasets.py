"""Labelled job ads for training and evaluating the job-ad risk model.

Two input formats are read, detected from the file's extension and first bytes:

* **DIFrauD-style JSONL**: one JSON object per line with ``"text"`` (str) and ``"label"`` (0/1,
  1 = fraudulent), optionally ``"id"``. Source: the DIFrauD benchmark's ``job_scams`` domain
  (Boumber, Qachfar, Verma, LREC-COLING 2024), which holds EMSCAD descriptions only.
* **EMSCAD CSV** in the column layout of ``fake_job_postings.csv`` (Employment Scam Aegean Dataset,
  University of the Aegean, 17,880 ads from 2012-2014): ``job_id, title, location, department,
  salary_range, company_profile, description, requirements, benefits, telecommuting,
  has_company_logo, has_questions, employment_type, required_experience, required_education,
  industry, function, fraudulent``. Only ``description`` and ``fraudulent`` are required; the
  text is ``title + description + requirements + benefits`` and the structured columns go to
  :attr:`LabelledAd.metadata`. A CSV with ``text`` and ``label`` columns is read like the JSONL.

Rows that copy one another (the same company boilerplate, re-posted ads) are put in one *group*
so that grouped cross-validation never puts copies on both sides of a split (see
:func:`assign_groups`). Errors are raised as :class:`DatasetError` naming the file and line.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import sys
import unicodedata
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "EMSCAD_COLUMNS",
    "EMSCAD_TEXT_FIELDS",
    "DatasetError",
    "LabelledAd",
    "assign_groups",
    "check_trainable",
    "file_sha256",
    "labels_sha256",
    "load_labelled",
    "majority_label",
    "read_exclude_ids",
]

EMSCAD_COLUMNS: tuple[str, ...] = (
    "job_id",
    "title",
    "location",
    "department",
    "salary_range",
    "company_profile",
    "description",
    "requirements",
    "benefits",
    "telecommuting",
    "has_company_logo",
    "has_questions",
    "employment_type",
    "required_experience",
    "required_education",
    "industry",
    "function",
    "fraudulent",
)
"""Columns of EMSCAD ``fake_job_postings.csv`` (Kaggle copy), in file order."""

_EMSCAD_REQUIRED = ("description", "fraudulent")
EMSCAD_TEXT_FIELDS: tuple[str, ...] = ("title", "description", "requirements", "benefits")
"""EMSCAD columns joined into the text the model reads (training and scoring alike)."""
_EMSCAD_FLAGS = ("telecommuting", "has_company_logo", "has_questions")
_EMSCAD_CATEGORIES = ("employment_type", "required_experience", "required_education", "industry", "function")

GROUP_PREFIX_CHARS = 300
"""Characters of normalised text compared to find copies (DIFrauD's README: ~40 of its texts share
their first 300 characters of company boilerplate with others)."""

GROUP_MIN_PROFILE_CHARS = 40
"""A ``company_profile`` shorter than this (after normalisation) is not used to group ads."""

GROUP_SHINGLE_COSINE = 0.3
"""Cosine similarity of binary word 3-shingle vectors above which two ads are near-duplicates.
Chosen by inspection of the shipped data: pairs at 0.3-0.4 share one company's boilerplate
paragraph; group sizes barely change between 0.2 and 0.5."""


class DatasetError(ValueError):
    """A training source is missing, unreadable, holds a bad row or too few labels; the message names
    the file (and line) or the source."""


@dataclass(slots=True)
class LabelledAd:
    """One labelled job ad.

    Attributes:
        id: unique id, ``"<file name>:<row id>"`` (EMSCAD ``job_id``, a JSONL ``id`` or the line number).
        text: the ad text (for EMSCAD: title, description, requirements and benefits joined by newlines).
        label: 1 = fraudulent, 0 = legitimate.
        group: cluster id for grouped cross-validation; ads that share boilerplate share a group.
        metadata: structured fields when the source has them (EMSCAD): ``job_id``,
            ``has_company_logo``, ``has_questions``, ``telecommuting`` (bool), ``salary_present``,
            ``company_profile_present`` (bool), ``employment_type``, ``required_experience``,
            ``required_education``, ``industry``, ``function`` (str, ``""`` when not given),
            ``company_profile``, ``description`` (str). Empty for DIFrauD rows.
        source: the file name the row came from (e.g. ``"fj_small.csv"``).
    """

    id: str
    text: str
    label: int
    group: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    source: str = ""


def file_sha256(path: Path) -> str:
    """Return the hex SHA-256 of the bytes of ``path``.

    Raises:
        DatasetError: the file cannot be read.
    """
    digest = hashlib.sha256()
    try:
        with Path(path).open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read file ({exc.strerror or exc})") from exc
    return digest.hexdigest()


def load_labelled(
    paths: Sequence[Path],
    exclude: Path | None = None,
    *,
    strict: bool = True,
) -> list[LabelledAd]:
    """Read labelled job ads from DIFrauD-style JSONL and/or EMSCAD CSV files and group copies.

    Args:
        paths: input files; the format of each is detected from its extension (``.jsonl``,
            ``.ndjson``, ``.csv``) or, failing that, its content (a first ``{`` means JSON lines; a
            header naming ``fraudulent``, or ``text`` and ``label``, means CSV).
        exclude: optional file of row ids to drop (e.g. ``fj_small_overlap_with_difraud.csv``): a
            CSV with a ``job_id`` (or ``id``) column, or one id per line. Ids are matched against
            EMSCAD ``job_id`` and JSONL ``id`` values.
        strict: if True (default) a bad row raises; if False it is skipped with a ``UserWarning``
            naming file and line.

    Returns:
        The ads in input order, with :attr:`LabelledAd.group` filled by :func:`assign_groups`.

    Raises:
        DatasetError: a file is missing or unreadable, has an unknown format, has no usable rows,
            holds a duplicate id, or (``strict``) a row is malformed: invalid JSON, missing or empty
            text, a label other than 0/1, or a CSV row with the wrong number of fields.
    """
    if not paths:
        raise DatasetError("no training files given")
    excluded = read_exclude_ids(exclude) if exclude is not None else set()
    records: list[LabelledAd] = []
    seen: set[str] = set()
    for path in paths:
        path = Path(path)
        kind = _detect_format(path)
        reader = _read_jsonl if kind == "jsonl" else _read_csv
        n_before = len(records)
        for line, native_id, ad in reader(path, strict):
            if native_id is not None and native_id in excluded:
                continue
            if ad.id in seen:
                _bad(path, line, f"duplicate id {ad.id!r}", strict)
                continue
            seen.add(ad.id)
            records.append(ad)
        if len(records) == n_before:
            raise DatasetError(f"{path}: no usable rows")
    assign_groups(records)
    return records


def read_exclude_ids(path: Path) -> set[str]:
    """Read row ids to exclude: a CSV with a ``job_id`` or ``id`` column, or one id per line.

    Raises:
        DatasetError: the file cannot be read.
    """
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read exclude file ({exc})") from exc
    lines = [ln for ln in raw.splitlines() if ln.strip()]
    if not lines:
        return set()
    header = [h.strip().lower() for h in next(csv.reader([lines[0]]))]
    for column in ("job_id", "id"):
        if column in header:
            idx = header.index(column)
            ids: set[str] = set()
            for lineno, row in enumerate(csv.reader(lines[1:]), start=2):
                if len(row) <= idx or not row[idx].strip():
                    raise DatasetError(f"{path}:{lineno}: no {column} value")
                ids.add(row[idx].strip())
            return ids
    return {ln.strip() for ln in lines}


def assign_groups(records: list[LabelledAd], *, shingle_threshold: float = GROUP_SHINGLE_COSINE) -> None:
    """Put ads that copy one another in one group, in place (for grouped cross-validation).

    Two ads are linked when their *body* (the EMSCAD ``description`` when present, as DIFrauD
    keeps it, else the text)

    * has the same first, or the same last, :data:`GROUP_PREFIX_CHARS` characters after
      normalisation (lower case, letters and digits only), or
    * shares word 3-shingles with cosine similarity >= ``shingle_threshold`` (binary shingle
      vectors; catches shared boilerplate shorter than the prefix and re-posts with a new city), or

    when they share a ``company_profile`` of at least :data:`GROUP_MIN_PROFILE_CHARS` normalised
    characters. Links are closed transitively (union-find). Each group is named after the id of its
    first member in input order, so grouping is deterministic.

    Args:
        records: ads; their ``group`` attribute is overwritten.
        shingle_threshold: cosine threshold in (0, 1] for the shingle link; > 1 switches it off.
    """
    parent = list(range(len(records)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int) -> None:
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)

    bodies = [str(ad.metadata.get("description") or "") or ad.text for ad in records]
    first_with_key: dict[str, int] = {}
    for i, ad in enumerate(records):
        body = _norm_key(bodies[i])
        keys = []
        if body:
            keys.append("head:" + body[:GROUP_PREFIX_CHARS])
            if len(body) >= 2 * GROUP_PREFIX_CHARS:
                keys.append("tail:" + body[-GROUP_PREFIX_CHARS:])
        profile = _norm_key(str(ad.metadata.get("company_profile") or ""))
        if len(profile) >= GROUP_MIN_PROFILE_CHARS:
            keys.append("profile:" + profile[:GROUP_PREFIX_CHARS])
        for key in keys:
            union(i, first_with_key.setdefault(key, i))
    if shingle_threshold <= 1.0 and len(records) > 1:
        for i, j in _shingle_pairs(bodies, shingle_threshold):
            union(i, j)
    for i, ad in enumerate(records):
        ad.group = records[find(i)].id


def _shingle_pairs(bodies: list[str], threshold: float, chunk: int = 2000) -> Iterator[tuple[int, int]]:
    """Yield index pairs (i < j) whose binary word 3-shingle vectors have cosine >= threshold."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(
        ngram_range=(3, 3), binary=True, use_idf=False, norm="l2", dtype=np.float32, lowercase=True
    )
    try:
        shingles = vectorizer.fit_transform(bodies).tocsr()
    except ValueError:  # every body shorter than three words
        return
    transposed = shingles.T.tocsc()
    for start in range(0, shingles.shape[0], chunk):
        sims = (shingles[start : start + chunk] @ transposed).tocoo()
        rows = sims.row + start
        keep = (sims.data >= threshold) & (rows < sims.col)
        yield from zip(rows[keep].tolist(), sims.col[keep].tolist(), strict=True)


DECISION_LABELS: dict[str, int] = {"confirmed": 1, "escalated": 1, "dismissed": 0}
"""Review decisions (``decision.decision``) that are votes: 1 = trafficking indicators confirmed (or
escalated) by an analyst, 0 = dismissed. ``needs_info`` is an abstention; an ``undo`` decision (note
``undoes #<id>``) cancels the decision it names."""

_UNDO_REF = re.compile(r"#(\d+)")


def standing_decisions(rows: Sequence[tuple[int, Any, str, str | None]]) -> dict[Any, int]:
    """Each reviewer's standing decision on one ad: the newest not cancelled by an ``undo``.

    Args:
        rows: the ad's decisions in id order as ``(decision id, reviewer, decision, note)``; the
            reviewer is any hashable (user id, None for decisions without a user).

    Returns:
        ``{reviewer: index into rows}`` of each reviewer's standing decision (``undo`` decisions
        and those they cancel excluded). Map it to votes with :data:`DECISION_LABELS` and
        :func:`majority_label`; ``adwatch train --from-db`` and ``adwatch export`` both do.
    """
    undone = {int(m) for _, _, d, note in rows if d == "undo" for m in _UNDO_REF.findall(note or "")}
    newest: dict[Any, int] = {}
    for i, (did, reviewer, decision, _note) in enumerate(rows):
        if decision != "undo" and did not in undone:
            newest[reviewer] = i  # id order: a newer decision replaces the older
    return newest


def majority_label(votes: Sequence[int]) -> int | None:
    """The majority of reviewers' 0/1 votes on one ad, or None for a tie (or no vote).

    Args:
        votes: one 0/1 vote per reviewer (1 = confirmed or escalated, 0 = dismissed).

    Returns:
        1 or 0 when one side has more votes, None when both have as many (the ad is then dropped
        from training: the reviewers disagree and nothing breaks the tie).
    """
    pos = sum(1 for v in votes if v == 1)
    neg = sum(1 for v in votes if v == 0)
    if pos == neg:
        return None
    return 1 if pos > neg else 0


def labels_sha256(pairs: Iterable[tuple[str, int]]) -> str:
    """Hex SHA-256 of ``(id, label)`` pairs, order-independent: the pairs are sorted and written as
    ``"<id>\t<label>\n"`` lines. Identifies a set of labels without holding any ad text or contact."""
    digest = hashlib.sha256()
    for ad_id, label in sorted((str(i), int(lbl)) for i, lbl in pairs):
        digest.update(f"{ad_id}\t{label}\n".encode())
    return digest.hexdigest()


def check_trainable(records: Sequence[LabelledAd], n_splits: int) -> None:
    """Refuse training data that grouped ``n_splits``-fold CV cannot use, naming the sources.

    Rules: at least one labelled ad; both classes present; at least ``n_splits`` groups (see
    :func:`assign_groups`) holding each class, since ``StratifiedGroupKFold`` needs a group of each
    class in every fold (fewer makes folds without a positive, where PR-AUC is undefined).

    Args:
        records: the combined training ads (``source`` names where each came from; ``group`` is
            filled, else the id is used).
        n_splits: folds of the grouped cross-validation.

    Raises:
        DatasetError: no ads, a single class, or too few groups of a class. The message lists every
            source with its rows and positives (``label`` 1).
    """
    by_source: dict[str, list[int]] = {}
    for r in records:
        by_source.setdefault(r.source or "(unnamed)", []).append(r.label)
    sources = "; ".join(f"{name}: {len(labels)} rows, {sum(labels)} labelled 1 (fraudulent/confirmed)"
                        for name, labels in by_source.items()) or "no source gave a row"
    if not records:
        raise DatasetError(f"no labelled ads to train on ({sources})")
    n_pos = sum(r.label for r in records)
    if n_pos in (0, len(records)):
        only = "1 (fraudulent/confirmed)" if n_pos else "0 (legitimate/dismissed)"
        raise DatasetError(
            f"only one class: all {len(records)} labelled ads have label {only}; training needs both classes "
            f"({sources})"
        )
    pos_groups = len({r.group or r.id for r in records if r.label == 1})
    neg_groups = len({r.group or r.id for r in records if r.label == 0})
    if min(pos_groups, neg_groups) < n_splits:
        raise DatasetError(
            f"too few labelled ads: grouped {n_splits}-fold CV needs >= {n_splits} groups of each class "
            f"(near-duplicate ads count as one group); got {pos_groups} with label 1 and {neg_groups} with "
            f"label 0 ({sources})"
        )


# --------------------------------------------------------------------------- readers


def _detect_format(path: Path) -> str:
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    try:
        with path.open("r", encoding="utf-8-sig") as fh:
            head = fh.read(4096).lstrip()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read file ({exc})") from exc
    if head.startswith("{"):
        return "jsonl"
    first_line = head.splitlines()[0].lower() if head else ""
    if "fraudulent" in first_line or ("text" in first_line and "label" in first_line):
        return "csv"
    raise DatasetError(f"{path}: unknown format (expected DIFrauD-style JSONL or EMSCAD CSV)")


Row = tuple[int, str | None, LabelledAd]


def _read_jsonl(path: Path, strict: bool) -> Iterator[Row]:
    try:
        fh = path.open("r", encoding="utf-8-sig")
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read file ({exc.strerror or exc})") from exc
    with fh:
        try:
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    _bad(path, lineno, f"invalid JSON ({exc.msg})", strict)
                    continue
                if not isinstance(obj, dict):
                    _bad(path, lineno, "expected a JSON object", strict)
                    continue
                text = obj.get("text")
                if not isinstance(text, str) or not text.strip():
                    _bad(path, lineno, "missing or empty 'text'", strict)
                    continue
                label = _parse_label(obj.get("label"))
                if label is None:
                    _bad(path, lineno, f"'label' must be 0 or 1, got {obj.get('label')!r}", strict)
                    continue
                native = obj.get("id")
                native_id = str(native) if native is not None else None
                ad_id = f"{path.name}:{native_id if native_id is not None else lineno}"
                yield lineno, native_id, LabelledAd(id=ad_id, text=text, label=label, source=path.name)
        except UnicodeDecodeError as exc:
            raise DatasetError(f"{path}: not UTF-8 text ({exc.reason})") from exc


def _read_csv(path: Path, strict: bool) -> Iterator[Row]:
    _raise_csv_field_limit()
    try:
        fh = path.open("r", encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read file ({exc.strerror or exc})") from exc
    with fh:
        try:
            reader = csv.reader(fh)
            try:
                header = [h.strip() for h in next(reader)]
            except StopIteration:
                raise DatasetError(f"{path}: empty file") from None
            except csv.Error as exc:
                raise DatasetError(f"{path}:1: bad CSV header ({exc})") from exc
            cols = {name: i for i, name in enumerate(header)}
            if "text" in cols and "label" in cols:
                emscad = False
            else:
                missing = [c for c in _EMSCAD_REQUIRED if c not in cols]
                if missing:
                    raise DatasetError(
                        f"{path}:1: not an EMSCAD fake_job_postings.csv (missing columns {missing}); "
                        "expected the EMSCAD columns or 'text' and 'label'"
                    )
                emscad = True
            line_end = reader.line_num
            while True:
                start = line_end + 1
                try:
                    row = next(reader)
                except StopIteration:
                    break
                except csv.Error as exc:
                    raise DatasetError(f"{path}:{start}: bad CSV ({exc})") from exc
                line_end = reader.line_num
                if not row or all(not v.strip() for v in row):
                    continue
                if len(row) != len(header):
                    _bad(path, start, f"expected {len(header)} fields, got {len(row)}", strict)
                    continue
                values = {name: row[i] for name, i in cols.items()}
                parsed = _emscad_row(path, start, values) if emscad else _text_label_row(path, start, values)
                if isinstance(parsed, str):
                    _bad(path, start, parsed, strict)
                    continue
                yield (start, *parsed)
        except UnicodeDecodeError as exc:
            raise DatasetError(f"{path}: not UTF-8 text ({exc.reason})") from exc


def _text_label_row(path: Path, line: int, values: dict[str, str]) -> tuple[str | None, LabelledAd] | str:
    text = values["text"]
    if not text.strip():
        return "empty 'text'"
    label = _parse_label(values["label"])
    if label is None:
        return f"'label' must be 0 or 1, got {values['label']!r}"
    native_id = values.get("id", "").strip() or None
    ad_id = f"{path.name}:{native_id or line}"
    return native_id, LabelledAd(id=ad_id, text=text, label=label, source=path.name)


def _emscad_row(path: Path, line: int, values: dict[str, str]) -> tuple[str | None, LabelledAd] | str:
    label = _parse_label(values["fraudulent"])
    if label is None:
        return f"'fraudulent' must be 0 or 1, got {values['fraudulent']!r}"
    parts = [values.get(f, "").strip() for f in EMSCAD_TEXT_FIELDS]
    text = "\n".join(p for p in parts if p)
    if not text:
        return "no text (title, description, requirements and benefits are all empty)"
    native_id = values.get("job_id", "").strip() or None
    metadata: dict[str, Any] = {}
    if native_id is not None:
        metadata["job_id"] = native_id
    for flag in _EMSCAD_FLAGS:
        if flag in values:
            parsed = _parse_label(values[flag])
            if parsed is None:
                return f"'{flag}' must be 0 or 1, got {values[flag]!r}"
            metadata[flag] = bool(parsed)
    if "salary_range" in values:
        metadata["salary_present"] = bool(values["salary_range"].strip())
    if "company_profile" in values:
        metadata["company_profile"] = values["company_profile"]
        metadata["company_profile_present"] = bool(values["company_profile"].strip())
    for name in _EMSCAD_CATEGORIES:
        if name in values:
            metadata[name] = values[name].strip()
    metadata["description"] = values["description"]
    ad_id = f"{path.name}:{native_id or line}"
    return native_id, LabelledAd(id=ad_id, text=text, label=label, metadata=metadata, source=path.name)


def _parse_label(value: object) -> int | None:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int) and value in (0, 1):
        return value
    if isinstance(value, float) and value in (0.0, 1.0):
        return int(value)
    if isinstance(value, str):
        v = value.strip().lower()
        if v in ("0", "1"):
            return int(v)
        if v in ("true", "false"):
            return int(v == "true")
    return None


def _bad(path: Path, line: int, message: str, strict: bool) -> None:
    text = f"{path}:{line}: {message}"
    if strict:
        raise DatasetError(text)
    warnings.warn(f"skipped row: {text}", UserWarning, stacklevel=3)


def _norm_key(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    return re.sub(r"[\W_]+", "", text)


def _raise_csv_field_limit() -> None:
    # EMSCAD descriptions can exceed csv's default 128 KiB field limit in edited copies.
    limit = sys.maxsize
    while True:
        try:
            csv.field_size_limit(limit)
            return
        except OverflowError:
            limit //= 10

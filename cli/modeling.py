"""``adwatch train``, ``adwatch evaluate`` and ``adwatch bias-report``: plain functions with typer parameters.

``cli/main.py`` registers them (``app.command("train")(train)``, ``app.command("evaluate")(evaluate)``,
``app.command("bias-report")(bias_report)``). The work is done by :func:`decision_records`,
:func:`evaluate_files`, :func:`stored_items` and :func:`scored_file_items`, which tests call directly.

Errors a user can fix (missing file, no model, bad rows) print one line and exit with status 2.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

__all__ = [
    "DECISION_LABELS",
    "CliInputError",
    "DecisionLabels",
    "bias_report",
    "decision_records",
    "evaluate",
    "evaluate_files",
    "scored_file_items",
    "stored_items",
    "train",
]

from cli.output import console, err
from cli.output import fail as _fail
from scoring.datasets import DECISION_LABELS

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from scoring.datasets import LabelledAd


class CliInputError(ValueError):
    """Bad command-line input (missing file, no model, bad rows); the message says what to fix."""


# ---------------------------------------------------------------- train -----------------------




def _utc(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime (SQLite hands timezone-aware columns back naive)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass
class DecisionLabels:
    """Training labels read from analysts' decisions in the database.

    Attributes:
        records: one labelled job ad per decided ad (id ``"db:<ad id>"``, ``source``
            ``"database <url>"``; text and fields of the ad version the deciding analysts saw).
        source: the database URL with any password hidden.
        ties_dropped: job ads whose reviewers split evenly (dropped).
        not_job: decided ads that are not job ads (escort, other; left out: the model is for jobs).
        abstained: ads with decisions but no standing vote (only ``needs_info``, or every vote undone).
        decided_from, decided_to: ISO dates of the earliest and latest deciding vote of a kept ad.
        labels_sha256: :func:`scoring.datasets.labels_sha256` of the ``(ad id, label)`` pairs.
    """

    records: list[LabelledAd]
    source: str
    ties_dropped: int = 0
    not_job: int = 0
    abstained: int = 0
    decided_from: str | None = None
    decided_to: str | None = None
    labels_sha256: str = ""
    label_rule: str = field(default=(
        "Label 1 = confirmed or escalated, 0 = dismissed (needs_info abstains; undone decisions do not count); "
        "each reviewer's latest standing decision is one vote and the majority labels the ad."
    ))

    def input_entry(self) -> dict[str, Any]:
        """Provenance for ``metrics.json`` and the model card: counts, dates, the labels hash; no text or contact."""
        return {
            "path": self.source, "role": "database", "sha256": self.labels_sha256,
            "rows": len(self.records), "fraudulent": sum(r.label for r in self.records),
            "decided_from": self.decided_from, "decided_to": self.decided_to,
            "ties_dropped": self.ties_dropped, "not_job": self.not_job, "abstained": self.abstained,
            "label_rule": self.label_rule,
        }


def decision_records(database_url: str) -> DecisionLabels:
    """Labelled job ads from the review app's decisions (tables ``decision``, ``review_item``, ``ad``).

    Per reviewed ad: decisions undone by an ``undo`` are discarded; each reviewer's (``user_id``'s)
    newest remaining decision is their vote, mapped by :data:`DECISION_LABELS` (``needs_info``: no
    vote); the majority of votes is the label (:func:`scoring.datasets.majority_label`), and a tie
    drops the ad. Only ``ad_type == "job"`` ads are kept. The text and fields are those of the
    newest ad version seen at or before the last deciding vote (the earliest version if all are
    later), as the scorer would read them on rescoring (``contact_raw`` left out); the ``body`` is
    also given as ``description`` so grouping compares bodies as it does for EMSCAD rows. The
    database is opened read-only, without migrations.

    Args:
        database_url: SQLAlchemy URL of the adwatch database.

    Returns:
        The :class:`DecisionLabels`, records in ad-id order.

    Raises:
        CliInputError: the SQLite file does not exist, the tables cannot be read, or no decided
            job ad is left (the message names the database and the counts).
        storage.errors.StorageError: the database cannot be opened.
    """
    from sqlalchemy import select
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from scoring.datasets import (
        DECISION_LABELS,
        LabelledAd,
        labels_sha256,
        majority_label,
        standing_decisions,
    )
    from storage.db import make_session_factory
    from storage.models import Ad, AdVersion, Decision, ReviewItem

    source = make_url(database_url).render_as_string(hide_password=True)
    engine = _readonly_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            rows = session.execute(
                select(Decision.id, Decision.user_id, Decision.decision, Decision.note, Decision.created_at,
                       ReviewItem.ad_id, Ad.ad_type)
                .join(ReviewItem, ReviewItem.id == Decision.review_item_id)
                .join(Ad, Ad.id == ReviewItem.ad_id)
                .order_by(Decision.id)
            ).all()
            by_ad: dict[int, list[Any]] = {}
            ad_types: dict[int, str] = {}
            for row in rows:
                by_ad.setdefault(row.ad_id, []).append(row)
                ad_types[row.ad_id] = row.ad_type
            out = DecisionLabels(records=[], source=source)
            labelled: dict[int, tuple[int, datetime]] = {}
            for ad_id in sorted(by_ad):
                decisions = by_ad[ad_id]
                standing = standing_decisions([(d.id, d.user_id, d.decision, d.note) for d in decisions])
                votes = [(DECISION_LABELS[d.decision], _utc(d.created_at))
                         for d in (decisions[i] for i in standing.values()) if d.decision in DECISION_LABELS]
                if not votes:
                    out.abstained += 1
                    continue
                if ad_types[ad_id] != "job":
                    out.not_job += 1
                    continue
                label = majority_label([v for v, _ in votes])
                if label is None:
                    out.ties_dropped += 1
                    continue
                labelled[ad_id] = (label, max(t for v, t in votes if v == label))
            versions: dict[int, list[Any]] = {}
            ids = sorted(labelled)
            for start in range(0, len(ids), 500):
                for v in session.execute(
                    select(AdVersion.ad_id, AdVersion.version, AdVersion.seen_at, AdVersion.text, AdVersion.fields)
                    .where(AdVersion.ad_id.in_(ids[start:start + 500])).order_by(AdVersion.ad_id, AdVersion.version)
                ):
                    versions.setdefault(v.ad_id, []).append(v)
            current = dict(session.execute(select(Ad.id, Ad.text).where(Ad.id.in_(ids))).tuples().all()) if ids else {}
            session.rollback()
    except SQLAlchemyError as exc:
        raise CliInputError(f"database {source}: cannot read analyst decisions ({getattr(exc, 'orig', exc)})") from exc
    finally:
        engine.dispose()

    for ad_id in ids:
        label, decided = labelled[ad_id]
        seen = [v for v in versions.get(ad_id, []) if _utc(v.seen_at) <= decided]
        chosen = seen[-1] if seen else (versions.get(ad_id) or [None])[0]
        text = chosen.text if chosen is not None else current.get(ad_id, "")
        meta = {k: v for k, v in dict(chosen.fields or {} if chosen is not None else {}).items() if k != "contact_raw"}
        if meta.get("body"):
            meta["description"] = meta["body"]
        if not (text or "").strip():
            continue
        out.records.append(LabelledAd(id=f"db:{ad_id}", text=text, label=label, metadata=meta,
                                      source=f"database {source}"))
    kept = {int(r.id[3:]) for r in out.records}
    if not out.records:
        raise CliInputError(
            f"database {source}: no analyst decision usable as a training label ({len(by_ad)} reviewed ads: "
            f"{out.ties_dropped} reviewer ties, {out.not_job} not job ads, {out.abstained} without a standing "
            "confirmed/escalated/dismissed decision)"
        )
    dates = sorted(labelled[i][1] for i in kept)
    out.decided_from, out.decided_to = dates[0].date().isoformat(), dates[-1].date().isoformat()
    out.labels_sha256 = labels_sha256((str(i), labelled[i][0]) for i in kept)
    return out


def train(
    data: Annotated[list[Path] | None, typer.Option("--data", help="Training files: DIFrauD-style JSONL (text, label) or EMSCAD CSV. Repeat or list several. Optional with --from-db.", show_default=False)] = None,
    from_db: Annotated[bool, typer.Option("--from-db", help="Also train on analysts' decisions in the database (--db): job ads confirmed or escalated = 1, dismissed = 0; one vote per reviewer (their latest), majority wins, ties dropped and counted; needs_info and undone decisions do not vote.")] = False,
    db: Annotated[str | None, typer.Option("--db", help="Database URL for --from-db (default: ADWATCH_DATABASE_URL or sqlite:///./adwatch.db).")] = None,
    out: Annotated[Path, typer.Option("--out", help="Folder that receives <name>/.")] = Path("models"),
    name: Annotated[str, typer.Option("--name", help="Model folder name, <name>-<version>.")] = "job-risk-0.4.0",
    exclude: Annotated[Path | None, typer.Option("--exclude", help="CSV of EMSCAD job_ids to drop from the files (e.g. overlap with another set).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    cv_repeats: Annotated[int, typer.Option("--cv-repeats", min=1, help="Fold assignments to cross-validate (fold seeds SEED..SEED+N-1); the first picks the model, all give each candidate's mean and range in the card.")] = 5,
    exclude_identity_terms: Annotated[bool | None, typer.Option("--exclude-identity-terms/--keep-identity-terms", help="Remove nationality and ethnicity terms from the model's features (default: ADWATCH_MODEL_EXCLUDE_IDENTITY_TERMS, off).", show_default=False)] = None,
    more: Annotated[list[Path] | None, typer.Argument(help="More training files (so `--data A B C` works).", show_default=False)] = None,
) -> None:
    """Train the job-ad risk model, with grouped cross-validation, calibration and a model card.

    Sources: labelled files (--data) and/or analysts' decisions stored by the review app
    (--from-db, database from --db). File rows and database rows are grouped together (copies
    never straddle CV folds). The card records the database rows by count, decision dates and a
    hash of the ad ids and labels, never their text or contacts. Examples:

      adwatch train --data data/difraud-job-scams/job_scams_validation.jsonl data/emscad-fj-small/fj_small.csv

      adwatch train --from-db --db sqlite:///adwatch.db --data data/emscad-fj-small/fj_small.csv
    """
    from scoring.datasets import DatasetError
    from scoring.model import train_cli
    from storage.errors import StorageError

    files = [*(data or []), *(more or [])]
    if not files and not from_db:
        raise _fail("no training data: give --data FILE ... and/or --from-db")
    if db is not None and not from_db:
        raise _fail("--db names the database for --from-db; add --from-db to train on analysts' decisions")
    for p in [*files, *([exclude] if exclude else [])]:
        if not Path(p).is_file():
            raise _fail(f"training file not found: {p}")
    extra: list[LabelledAd] = []
    extra_inputs: list[dict[str, Any]] = []
    try:
        if from_db:
            if db is None:
                from config.settings import get_settings

                db = get_settings().database_url
            labels = decision_records(db)
            n_pos = sum(r.label for r in labels.records)
            err.print(
                f"database {labels.source}: {len(labels.records)} labelled job ads ({n_pos} confirmed/escalated, "
                f"{len(labels.records) - n_pos} dismissed), decided {labels.decided_from} to {labels.decided_to}; "
                f"dropped {labels.ties_dropped} reviewer tie(s); left out {labels.not_job} non-job ad(s) and "
                f"{labels.abstained} without a standing vote"
            )
            extra, extra_inputs = labels.records, [labels.input_entry()]
        folder = train_cli(data=files, out_dir=out, name=name, exclude=exclude, seed=seed,
                           exclude_identity_terms=exclude_identity_terms, extra_records=extra,
                           extra_inputs=extra_inputs, cv_repeats=cv_repeats)
    except (CliInputError, DatasetError, StorageError, ValueError) as exc:
        raise _fail(str(exc)) from exc
    console.print(f"model written to {folder}")
    from config.settings import get_settings
    from scoring.scorer import find_model_dir

    settings = get_settings()
    loaded = find_model_dir(Path(settings.models_dir), settings.model_name)
    if loaded is not None and loaded.resolve() != folder.resolve():
        console.print(f"[yellow]note:[/] adwatch scores with {loaded.name}; to use this model set "
                      f"ADWATCH_MODEL_NAME={folder.name}" + (f" and ADWATCH_MODELS_DIR={folder.parent}"
                                                             if folder.parent.resolve() != Path(settings.models_dir).resolve() else ""))


# ---------------------------------------------------------------- evaluate --------------------


def _resolve(path: str) -> Path:
    """A path from metrics.json: as given (relative to the working directory), else the project's."""
    from config.settings import PROJECT_ROOT

    p = Path(path)
    if p.is_file() or p.is_absolute():
        return p
    return PROJECT_ROOT / p


def _model_dir(model: Path | None) -> Path:
    from config.settings import get_settings
    from scoring.scorer import find_model_dir

    if model is not None:
        return model
    settings = get_settings()
    found = find_model_dir(settings.models_dir, settings.model_name)
    if found is None:
        raise CliInputError(f"no model installed in {settings.models_dir} (run `make model` or `adwatch train`)")
    return found


def evaluate_files(
    data: list[Path],
    *,
    model_dir: Path | None = None,
    train_data: list[Path] | None = None,
    exclude: Path | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Evaluate the installed model and a TF-IDF + LR baseline on labelled files.

    Args:
        data: labelled files (DIFrauD-style JSONL or EMSCAD CSV, see
            :func:`scoring.datasets.load_labelled`).
        model_dir: model folder (default: the scorer's: ``settings.model_name`` or the newest in
            ``settings.models_dir``).
        train_data: training files for the baseline (default: the ``inputs`` with role ``train``
            in the model's ``metrics.json``, i.e. the same data the model was trained on).
        exclude: ids to drop from ``train_data`` (default: the model's ``exclude`` input).
        seed: seed of the baseline.

    Returns:
        ``{"model", "data", "n", "n_pos", "roc_auc", "pr_auc", "f1_best",
        "recall_at_precision_0_9", "brier", "ece", "baseline": {same metrics, "model",
        "train_data"}}``. The baseline is ``TfidfVectorizer()`` + ``LogisticRegression(max_iter=1000)``
        (library defaults) fitted in this call; its probabilities are not recalibrated. A
        ``"warning"`` key is added when a data file is byte-identical to a training file, or when
        the model was also trained on database decisions (which the baseline does not see).

    Raises:
        CliInputError: no model, or no training data known for the baseline.
        scoring.datasets.DatasetError: a bad data file.
        scoring.model.ModelError: the model cannot be loaded.
    """
    from scoring.datasets import load_labelled
    from scoring.evaluate import report
    from scoring.model import _candidates, _pipeline, ad_frame, load_model

    folder = _model_dir(model_dir)
    model = load_model(folder)
    records = load_labelled([Path(p) for p in data])
    y = [r.label for r in records]
    texts = [r.text for r in records]
    meta = [r.metadata for r in records]

    if train_data is None:
        doc_path = (folder if folder.is_dir() else folder.parent) / "metrics.json"
        try:
            doc = json.loads(doc_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise CliInputError(f"{doc_path}: cannot read the model's training inputs ({exc}); pass --train-data") from exc
        inputs = doc.get("inputs", [])
        db_rows = sum(int(i.get("rows", 0)) for i in inputs if i.get("role") == "database")
        train_data = [_resolve(i["path"]) for i in inputs if i.get("role") == "train"]
        if exclude is None:
            exclude = next((_resolve(i["path"]) for i in inputs if i.get("role") == "exclude"), None)
        if not train_data:
            raise CliInputError(f"{doc_path}: lists no training files (a model trained on database decisions "
                                "alone); pass --train-data")
    else:
        db_rows = 0
    train = load_labelled([Path(p) for p in train_data], Path(exclude) if exclude else None)
    from scoring.datasets import file_sha256

    train_hashes = {file_sha256(Path(p)) for p in train_data}
    overlap = [Path(p).as_posix() for p in data if file_sha256(Path(p)) in train_hashes]
    baseline = _pipeline(_candidates()[0], seed)
    baseline.fit(ad_frame([r.text for r in train], [r.metadata for r in train]), [r.label for r in train])
    p_base = baseline.predict_proba(ad_frame(texts, meta))[:, 1]
    p_model = model.predict_proba(texts, meta)
    result: dict[str, Any] = {
        "model": model.version,
        "data": [Path(p).as_posix() for p in data],
        **report(y, p_model),
        "baseline": {
            "model": "TfidfVectorizer() + LogisticRegression(max_iter=1000)",
            "train_data": [Path(p).as_posix() for p in train_data],
            **report(y, p_base),
        },
    }
    warnings = [f"{', '.join(overlap)}: part of the training data; these figures are optimistic"] if overlap else []
    if db_rows:
        warnings.append(f"the model was also trained on {db_rows} analyst-labelled ads from a database; the "
                        "baseline was trained on the files only")
    if warnings:
        result["warning"] = "; ".join(warnings)
    return result


def evaluate(
    data: Annotated[list[Path], typer.Option("--data", help="Labelled files: DIFrauD-style JSONL (text, label) or EMSCAD CSV.")],
    fmt: Annotated[str, typer.Option("--format", help="json (one object) or table.")] = "json",
    model: Annotated[Path | None, typer.Option("--model", help="Model folder (default: the installed one the scorer uses).")] = None,
    train_data: Annotated[list[Path] | None, typer.Option("--train-data", help="Baseline training files (default: the model's own, from its metrics.json).")] = None,
    exclude: Annotated[Path | None, typer.Option("--exclude", help="Ids to drop from the baseline's training files.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the baseline.")] = 0,
    more: Annotated[list[Path] | None, typer.Argument(help="More labelled files (so `--data A B` works).", show_default=False)] = None,
) -> None:
    """Evaluate the installed job-ad model and a TF-IDF + logistic-regression baseline on labelled ads."""
    from scoring.datasets import DatasetError
    from scoring.model import ModelError

    if fmt not in ("json", "table"):
        raise _fail(f"--format must be json or table, got {fmt!r}")
    files = [*data, *(more or [])]
    for p in [*files, *(train_data or []), *([exclude] if exclude else [])]:
        if not Path(p).is_file():
            raise _fail(f"file not found: {p}")
    try:
        result = evaluate_files(files, model_dir=model, train_data=train_data, exclude=exclude, seed=seed)
    except (CliInputError, DatasetError, ModelError) as exc:
        raise _fail(str(exc)) from exc
    if fmt == "json":
        typer.echo(json.dumps(result))
        return
    table = Table(title=f"{result['model']} on {', '.join(result['data'])} ({result['n']} ads, {result['n_pos']} fraudulent)")
    table.add_column("metric")
    table.add_column(result["model"], justify="right")
    table.add_column("TF-IDF + LR baseline", justify="right")
    for key in ("roc_auc", "pr_auc", "f1_best", "recall_at_precision_0_9", "brier", "ece"):
        a, b = result[key], result["baseline"][key]
        table.add_row(key, "-" if a is None else f"{a:.3f}", "-" if b is None else f"{b:.3f}")
    console.print(table)
    if result.get("warning"):
        console.print(f"[yellow]warning:[/] {result['warning']}")


# ---------------------------------------------------------------- bias report -----------------


def _readonly_engine(database_url: str) -> Engine:
    """An engine on an existing database, without running migrations (nothing is created).

    Raises:
        CliInputError: the SQLite file does not exist.
        storage.errors.StorageError: the database cannot be opened.
    """
    from sqlalchemy.engine import make_url

    from storage.db import make_engine

    url = make_url(database_url)
    db_file = url.database if url.get_backend_name() == "sqlite" else None
    if db_file not in (None, "", ":memory:") and not Path(str(db_file)).expanduser().is_file():
        raise CliInputError(f"database file not found: {db_file}")
    kwargs = {"migrate": False} if "migrate" in inspect.signature(make_engine).parameters else {}
    return make_engine(database_url, **kwargs)


def stored_items(database_url: str, ad_type: str | None = None) -> Iterator[tuple[str, float, str]]:
    """``(text, risk, band)`` of every stored ad's newest score (highest score id), read-only;
    only ads of ``ad_type`` (``"job"``, ``"escort"``, ...) when given.

    The database is opened without migrations and nothing is written; a SQLite file that does not
    exist is an error rather than being created.

    Raises:
        CliInputError: the SQLite file does not exist.
        storage.errors.StorageError: the database cannot be opened.
    """
    from sqlalchemy import func, select

    from storage.db import make_session_factory
    from storage.models import Ad, Score

    engine = _readonly_engine(database_url)
    try:
        newest = select(Score.ad_id, func.max(Score.id).label("sid")).group_by(Score.ad_id).subquery()
        query = (
            select(Ad.text, Score.risk, Score.band)
            .join(newest, newest.c.ad_id == Ad.id)
            .join(Score, Score.id == newest.c.sid)
            .order_by(Ad.id)
        )
        if ad_type is not None:
            query = query.where(Ad.ad_type == ad_type)
        with make_session_factory(engine)() as session:
            for text, risk, band in session.execute(query):
                yield text or "", float(risk), str(band)
            session.rollback()
    finally:
        engine.dispose()


def scored_file_items(scored: Path, input_file: Path | None = None,
                      ad_type: str | None = None) -> Iterator[tuple[str, float, str]]:
    """``(text, risk, band)`` per row of a scored JSONL file (the output of ``adwatch score``);
    only rows whose ``ad_type`` is ``ad_type`` when given.

    Each row needs ``risk`` and ``band``. The text is the row's ``text`` field when present,
    otherwise the text of the ad with the same ``id`` in ``input_file`` (the file given to
    ``adwatch score``).

    Raises:
        CliInputError: a row is not valid JSON, lacks ``risk``/``band``, or has no text and no
            matching input ad (the message names file and line).
    """
    texts: dict[str, str] = {}
    if input_file is not None:
        from scoring.io import InputReader, RowError

        for row in InputReader(Path(input_file)):
            if not isinstance(row, RowError):
                texts[str(row.id)] = row.text
    with Path(scored).open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CliInputError(f"{scored}:{line_no}: bad JSON ({exc.msg})") from exc
            if not isinstance(obj, dict) or "risk" not in obj or "band" not in obj:
                raise CliInputError(f"{scored}:{line_no}: expected an object with 'risk' and 'band'")
            if ad_type is not None and obj.get("ad_type") != ad_type:
                continue
            text = obj.get("text")
            if not isinstance(text, str):
                text = texts.get(str(obj.get("id")))
            if text is None:
                hint = "" if input_file is not None else "; pass --input with the file that was scored"
                raise CliInputError(f"{scored}:{line_no}: no 'text' and no input ad with id {obj.get('id')!r}{hint}")
            yield text, float(obj["risk"]), str(obj["band"])


def bias_report(
    db: Annotated[str | None, typer.Option("--db", help="Database URL of stored ads (default: ADWATCH_DATABASE_URL, when no --scored file is given).")] = None,
    scored: Annotated[Path | None, typer.Option("--scored", help="Scored JSONL file (output of `adwatch score`).")] = None,
    input: Annotated[Path | None, typer.Option("--input", "-i", help="The file that was scored, for the texts (when the scored rows hold none).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="json (one object) or table.")] = "json",
    min_n: Annotated[int, typer.Option("--min-n", min=1, help="Leave out groups with fewer ads than this (rates of smaller groups are mostly noise; each rate has a 95% Wilson interval).")] = 5,
    ad_type: Annotated[str | None, typer.Option("--ad-type", help="Only ads of this type (job, escort, ...). Job risk includes the model and escort risk is rules only, so compare groups within one type.")] = None,
    lexicons: Annotated[Path | None, typer.Option("--lexicons", help="DIG lexicon folder (default: data/memex-dig-lexicons).")] = None,
) -> None:
    """Flag rate and mean risk by mentioned nationality, ethnicity and language, over stored and/or scored ads."""
    from scoring.bias import DIMENSIONS
    from scoring.bias import bias_report as compute
    from storage.errors import StorageError

    if fmt not in ("json", "table"):
        raise _fail(f"--format must be json or table, got {fmt!r}")
    for p in (scored, input):
        if p is not None and not Path(p).is_file():
            raise _fail(f"file not found: {p}")
    out: dict[str, Any] = {"stored": None, "scored_file": None}
    try:
        if db is not None or scored is None:
            if db is None:
                from config.settings import get_settings

                db = get_settings().database_url
            from sqlalchemy.engine import make_url

            label = make_url(db).render_as_string(hide_password=True)
            out["stored"] = compute(stored_items(db, ad_type), lexicon_dir=lexicons, source=label).as_dict(min_n)
        if scored is not None:
            out["scored_file"] = compute(scored_file_items(scored, input, ad_type), lexicon_dir=lexicons,
                                         source=Path(scored).as_posix()).as_dict(min_n)
    except (CliInputError, FileNotFoundError, ValueError, StorageError) as exc:
        raise _fail(str(exc)) from exc
    if fmt == "json":
        typer.echo(json.dumps(out, ensure_ascii=False))
        return
    for key, rep in out.items():
        if rep is None:
            continue
        o = rep["overall"]
        scope = f", {ad_type} ads only" if ad_type else ", all ad types"
        table = Table(title=f"Bias report ({key}: {rep['source']}{scope}): {o['n']} ads, flag rate "
                            f"{o['flag_rate'] if o['flag_rate'] is not None else '-'}, mean risk "
                            f"{o['mean_risk'] if o['mean_risk'] is not None else '-'}")
        for col in ("dimension", "group", "ads", "flagged", "flag rate [95% CI]", "mean risk"):
            table.add_column(col, justify="left" if col in ("dimension", "group") else "right")
        for d in DIMENSIONS:
            rows = [{"group": "(none mentioned)", **rep[d]["none"]}, *rep[d]["groups"]]
            for r in rows:
                table.add_row(d, r["group"], str(r["n"]), str(r["flagged"]),
                              "-" if r["flag_rate"] is None else
                              f"{r['flag_rate']:.3f} [{r['flag_rate_low']:.2f}, {r['flag_rate_high']:.2f}]",
                              "-" if r["mean_risk"] is None else f"{r['mean_risk']:.3f}")
            gone = rep[d].get("left_out", {})
            if gone.get("groups"):
                table.add_row(d, f"({gone['groups']} groups under --min-n {min_n})", str(gone["ads"]), "", "", "")
        console.print(table)

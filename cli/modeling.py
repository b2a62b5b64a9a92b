"""``adwatch evaluate`` and ``adwatch bias-report``: plain functions with typer parameters.

``cli/main.py`` registers them (``app.command("evaluate")(evaluate)``,
``app.command("bias-report")(bias_report)``). The work is done by :func:`evaluate_files`,
:func:`stored_items` and :func:`scored_file_items`, which tests call directly.

Errors a user can fix (missing file, no model, bad rows) print one line and exit with status 2.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

__all__ = [
    "CliInputError",
    "bias_report",
    "evaluate",
    "evaluate_files",
    "scored_file_items",
    "stored_items",
]

from cli.output import console, err


class CliInputError(ValueError):
    """Bad command-line input (missing file, no model, bad rows); the message says what to fix."""


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


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
        ``"warning"`` key is added when a data file is byte-identical to a training file.

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
        train_data = [_resolve(i["path"]) for i in inputs if i.get("role") == "train"]
        if exclude is None:
            exclude = next((_resolve(i["path"]) for i in inputs if i.get("role") == "exclude"), None)
        if not train_data:
            raise CliInputError(f"{doc_path}: lists no training files; pass --train-data")
    train = load_labelled([Path(p) for p in train_data], Path(exclude) if exclude else None)
    from scoring.datasets import file_sha256

    train_hashes = {file_sha256(Path(p)) for p in train_data}
    overlap = [Path(p).as_posix() for p in data if file_sha256(Path(p)) in train_hashes]
    baseline = _pipeline(_candidates()[0], seed)
    baseline.fit(ad_frame([r.text for r in train], [r.metadata for r in train]), [r.label for r in train])
    p_base = baseline.predict_proba(ad_frame(texts, meta))[:, 1]
    p_model = model.predict_proba(texts, meta)
    return {
        "model": model.version,
        "data": [Path(p).as_posix() for p in data],
        **report(y, p_model),
        "baseline": {
            "model": "TfidfVectorizer() + LogisticRegression(max_iter=1000)",
            "train_data": [Path(p).as_posix() for p in train_data],
            **report(y, p_base),
        },
        **({"warning": f"{', '.join(overlap)}: part of the training data; these figures are optimistic"}
           if overlap else {}),
    }


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


# ---------------------------------------------------------------- bias report -----------------


def stored_items(database_url: str) -> Iterator[tuple[str, float, str]]:
    """``(text, risk, band)`` of every stored ad's newest score (highest score id), read-only.

    The database is opened without migrations and nothing is written; a SQLite file that does not
    exist is an error rather than being created.

    Raises:
        CliInputError: the SQLite file does not exist.
        storage.errors.StorageError: the database cannot be opened.
    """
    from sqlalchemy import func, select
    from sqlalchemy.engine import make_url

    from storage.db import make_engine, make_session_factory
    from storage.models import Ad, Score

    url = make_url(database_url)
    db_file = url.database if url.get_backend_name() == "sqlite" else None
    if db_file not in (None, "", ":memory:") and not Path(str(db_file)).expanduser().is_file():
        raise CliInputError(f"database file not found: {db_file}")
    kwargs = {"migrate": False} if "migrate" in inspect.signature(make_engine).parameters else {}
    engine = make_engine(database_url, **kwargs)
    try:
        newest = select(Score.ad_id, func.max(Score.id).label("sid")).group_by(Score.ad_id).subquery()
        query = (
            select(Ad.text, Score.risk, Score.band)
            .join(newest, newest.c.ad_id == Ad.id)
            .join(Score, Score.id == newest.c.sid)
            .order_by(Ad.id)
        )
        with make_session_factory(engine)() as session:
            for text, risk, band in session.execute(query):
                yield text or "", float(risk), str(band)
            session.rollback()
    finally:
        engine.dispose()


def scored_file_items(scored: Path, input_file: Path | None = None) -> Iterator[tuple[str, float, str]]:
    """``(text, risk, band)`` per row of a scored JSONL file (the output of ``adwatch score``).

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
    min_n: Annotated[int, typer.Option("--min-n", min=1, help="Leave out groups with fewer ads than this.")] = 1,
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
            out["stored"] = compute(stored_items(db), lexicon_dir=lexicons, source=label).as_dict(min_n)
        if scored is not None:
            out["scored_file"] = compute(scored_file_items(scored, input), lexicon_dir=lexicons,
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
        table = Table(title=f"Bias report ({key}: {rep['source']}): {o['n']} ads, flag rate "
                            f"{o['flag_rate'] if o['flag_rate'] is not None else '-'}, mean risk "
                            f"{o['mean_risk'] if o['mean_risk'] is not None else '-'}")
        for col in ("dimension", "group", "ads", "flagged", "flag rate", "mean risk"):
            table.add_column(col, justify="left" if col in ("dimension", "group") else "right")
        for d in DIMENSIONS:
            rows = [{"group": "(none mentioned)", **rep[d]["none"]}, *rep[d]["groups"]]
            for r in rows:
                table.add_row(d, r["group"], str(r["n"]), str(r["flagged"]),
                              "-" if r["flag_rate"] is None else f"{r['flag_rate']:.3f}",
                              "-" if r["mean_risk"] is None else f"{r['mean_risk']:.3f}")
        console.print(table)

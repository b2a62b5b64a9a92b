"""``adwatch export``: write a de-identified, labelled dataset with leak-free splits (:mod:`export`).

Registered in :mod:`cli.main` (``app.command("export")(export)``). Errors print one readable line and
exit with status 2 (bad input, refused operator) or 1 (the export failed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.output import DbOption, console, err
from cli.output import app_settings as _app_settings
from cli.output import fail as _fail


def export(
    out: Annotated[Path, typer.Option("--out", help="Folder to write ads.<format>, DATASHEET.md and datasheet.json into: a new folder (created, and named in the output), an empty one, or an earlier export's (with --force). A folder holding other files needs --force.")],
    operator: Annotated[str, typer.Option("--as", metavar="USER", help="The researcher or admin account the export is recorded under. Checked against adwatch's accounts, not a login: anyone who can open the database can name any account; the audit log also records the host and OS user.")],
    fmt: Annotated[str, typer.Option("--format", help="jsonl, csv or parquet (parquet needs pyarrow).")] = "jsonl",
    labelled_only: Annotated[bool, typer.Option("--labelled-only", help="Only ads with a 0/1 label from analysts' decisions.")] = False,
    split: Annotated[str, typer.Option("--split", help="How ads go to train/validation/test; every contact network, template cluster and shared contact stays in one split. cluster: groups largest first, balancing ads and positive labels. time: oldest groups (posting date, else first seen) to train, newest to test. random: each group by a seeded hash, unchanged by --labelled-only (cluster and time depend on which ads are exported: use the splits of one export).")] = "cluster",
    pseudonymize: Annotated[bool, typer.Option("--pseudonymize", help="Replace contacts by keyed pseudonyms ([PHONE_kxbtmnpq]; needs ADWATCH_EXPORT_SECRET).")] = False,
    redact: Annotated[bool, typer.Option("--redact", help="Replace contacts by type tokens ([PHONE]); the default.")] = False,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the random split (and of the cluster split's tie-breaks).")] = 0,
    force: Annotated[bool, typer.Option("--force", help="Replace an earlier export in --out, or write into a folder holding other files (left alone).")] = False,
    db: DbOption = None,
) -> None:
    """Export ads as a de-identified dataset: one row per ad with indicators, risk, labels and split.

    Phones, e-mails, handles and URLs carrying ids are replaced in the text (type tokens, or keyed pseudonyms that link ads without revealing contacts); indicator offsets point into the exported text. Labels are the majority of the analysts' votes, as for adwatch train --from-db (ties: no label).

    Allowed to active researcher and admin accounts named with --as; every export (with its folder, host and OS user) and every refusal is audit-logged. Warnings about the splits (a split without positives or negatives, a short time range) are printed and written to DATASHEET.md.
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from export import (
        ExportError,
        ExportOptions,
        ExportRefused,
        check_operator,
        run_export,
    )
    from export.export import check_options, link_ads
    from storage.db import make_engine, make_session_factory
    from storage.errors import StorageError

    if pseudonymize and redact:
        raise _fail("choose one of --pseudonymize and --redact")
    settings = _app_settings(db)
    try:
        engine = make_engine(settings.database_url)
    except StorageError as exc:
        raise _fail(str(exc), 1) from exc
    options = ExportOptions(out_dir=out, operator=operator, fmt=fmt, labelled_only=labelled_only, split=split,
                            deid="pseudonymize" if pseudonymize else "redact", seed=seed, force=force)
    bar = Progress(TextColumn("exporting"), BarColumn(), MofNCompleteColumn(), TextColumn("ads"),
                   TimeRemainingColumn(), console=err, transient=False)
    sessions = make_session_factory(engine)
    try:
        with sessions() as session:
            try:
                check_operator(session, operator)
            except ExportRefused as exc:
                session.commit()  # keep the refusal's audit event
                raise _fail(f"export refused: {exc}") from exc
        try:
            check_options(options, settings)
        except ExportError as exc:
            raise _fail(str(exc)) from exc
        try:
            with sessions.begin() as session:  # networks and clusters first, committed: the export only reads
                link_ads(session, settings)
        except ExportError as exc:
            raise _fail(str(exc), 1) from exc
        with sessions() as session, bar:
            task = bar.add_task("export", total=None)
            try:
                result = run_export(session, options, settings=settings, update_links=False,
                                    progress=lambda done, total: bar.update(task, completed=done, total=total))
            except ExportError as exc:
                session.rollback()
                raise _fail(str(exc)) from exc
            session.commit()
    finally:
        engine.dispose()
    if result.created_dir:
        console.print(f"created folder {result.out_dir.resolve()}")
    for warning in result.warnings:
        err.print(f"[bold yellow]warning:[/] {warning}")
    parts = ", ".join(f"{k} {v}" for k, v in sorted(result.splits.items())) or "no ads"
    console.print(f"wrote {result.rows} ads to {out} ({', '.join(result.files)}, DATASHEET.md, datasheet.json): "
                  f"{parts}; contacts replaced: "
                  + (", ".join(f"{k} {v}" for k, v in sorted(result.replacements.items())) or "none")
                  + f"; audit event {result.audit_event_id}")

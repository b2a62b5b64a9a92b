"""``adwatch export``: de-identified, labelled datasets with leak-free splits.

:func:`run_export` writes ``ads.<format>`` (one row per ad, columns :data:`export.writers.FIELDS`),
``DATASHEET.md`` and ``datasheet.json`` into a folder, and records an ``export`` audit event with the
operator, the output folder, the host and OS user, the parameters and the counts. Only researcher and
admin accounts may export (:func:`check_operator`); a refusal is audited as ``export_refused``.

The operator (``--as``) is an attribution checked against the ``app_user`` table, not an
authentication: whoever can open the database can name any account. The host and OS user in the
audit event say where the export really ran.

Steps: check the operator and the options; bring contact networks and template clusters up to date
(``linking.update``, when the linking package is present); pick the ads (every ad except those
removed on request; with ``labelled_only`` only ads with a 0/1 label); read their labels
(:mod:`export.labels`) and the groupings of every exportable ad; assign splits (:mod:`export.splits`)
and collect warnings (a split without a class, a short time range); then, 500 ads at a time,
de-identify each text (:mod:`export.deid`), remap its indicator offsets and write the rows; finally
the datasheet (:mod:`export.datasheet`) and the audit event. The caller owns the Session and commits
(also after :class:`~export.errors.ExportRefused`, to keep the refusal's audit event).
"""

from __future__ import annotations

import getpass
import importlib
import json
import socket
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from config.settings import AppSettings, get_settings
from export.datasheet import DatasetStats, build_datasheet, render_markdown
from export.deid import MODES, ContactLiterals, Deidentifier, Mention, check_secret
from export.errors import ExportError, ExportRefused
from export.labels import ad_labels
from export.splits import (
    METHODS,
    ad_groupings,
    assign_splits,
    check_fractions,
    components,
    linking_available,
    split_times,
    split_warnings,
)
from export.writers import FORMATS, RowWriter, open_writer, require_pyarrow
from storage.models import Ad, AdEntity, AppUser, Entity, IndicatorHit, Score, utcnow
from storage.repository import CONTACT_ENTITY_TYPES, audit, entity_hmac

EXPORT_ROLES = ("researcher", "admin")
"""Roles allowed to export (``webapp.settings.ROLES``: researchers export labels; admins do everything)."""

EXCLUDED_STATUSES = ("removed",)
"""``ad.status`` values never exported (``removed``: taken down on request)."""

OUTPUT_FILES = ("DATASHEET.md", "datasheet.json", *(f"ads.{f}" for f in FORMATS))
"""Files an export writes (one ``ads.*``); an existing one is only replaced with ``force``."""

OWN_FILES = frozenset({*OUTPUT_FILES, *(f"ads.{f}.partial" for f in FORMATS)})
"""Files an export may leave in its folder (``.partial``: a failed export's data file)."""

BATCH = 500
"""Ads read, de-identified and written at a time."""

Progress = Callable[[int, int], None]
"""Progress callback: ``(ads written, ads to write)``."""


@dataclass(slots=True)
class ExportOptions:
    """What to export.

    Attributes:
        out_dir: folder to write into: a new folder (created, with its parents), an empty one, or one
            holding an earlier export; a folder with other files only with ``force``.
        operator: user name of the researcher or admin account exporting (``--as``).
        fmt: ``jsonl``, ``csv`` or ``parquet``.
        labelled_only: only ads with a 0/1 label from review decisions.
        split: ``cluster``, ``time`` or ``random`` (:mod:`export.splits`).
        deid: ``redact`` (type tokens) or ``pseudonymize`` (keyed pseudonyms).
        fractions: target train/validation/test shares; None: ``AppSettings.export_split_fractions``.
        seed: seed of the random split's hash and of the cluster split's tie-breaks.
        force: replace the files of an earlier export in ``out_dir``, and write into a folder that
            holds other files (they are left alone).
        secret: pseudonym secret; None: ``AppSettings.export_secret``.
    """

    out_dir: Path
    operator: str
    fmt: str = "jsonl"
    labelled_only: bool = False
    split: str = "cluster"
    deid: str = "redact"
    fractions: Sequence[float] | None = None
    seed: int = 0
    force: bool = False
    secret: str | None = None


@dataclass(slots=True)
class ExportResult:
    """What an export wrote.

    Attributes:
        out_dir: the folder.
        files: ``{file name: {"rows": n, "sha256": hex}}`` of the data file.
        rows: ads written.
        splits: ads per split.
        labels: label distribution (``"1"``, ``"0"``, ``"tie"``, ``"needs_info"``, ``"unlabelled"``).
        replacements: de-identification replacements per token type.
        datasheet: the ``datasheet.json`` object.
        audit_event_id: id of the ``export`` audit event.
        warnings: sentences about the splits (:func:`export.splits.split_warnings`), also in the
            datasheet and the audit event.
        created_dir: True when the export created ``out_dir``.
    """

    out_dir: Path
    files: dict[str, dict[str, Any]]
    rows: int
    splits: dict[str, int]
    labels: dict[str, int]
    replacements: dict[str, int]
    datasheet: dict[str, Any] = field(default_factory=dict)
    audit_event_id: int | None = None
    warnings: list[str] = field(default_factory=list)
    created_dir: bool = False


def check_operator(session: Session, username: str) -> AppUser:
    """The active researcher or admin account named ``username``.

    A refusal is written to the audit log (action ``export_refused``, actor ``username``) before the
    error is raised; the caller commits to keep it.

    Raises:
        ExportRefused: no such account, the account is inactive, or its role is not in
            :data:`EXPORT_ROLES`.
    """
    user = session.scalar(select(AppUser).where(AppUser.username == username))
    if user is None:
        reason = f"no account named {username!r}: export needs a researcher or admin account (adwatch users add NAME --role researcher)"
    elif not user.active:
        reason = f"account {username!r} is deactivated: export needs an active researcher or admin account"
    elif user.role not in EXPORT_ROLES:
        reason = (f"account {username!r} has role {user.role!r}: export is allowed to researcher and admin "
                  "accounts only")
    else:
        return user
    audit(session, username, "export_refused", "dataset", None,
          {"role": user.role if user else None, "reason": reason})
    raise ExportRefused(reason, username, user.role if user else None)


def check_options(options: ExportOptions, settings: AppSettings) -> tuple[float, float, float]:
    """Check ``options`` before any work; return the split fractions to use.

    Raises:
        ExportError: unknown format, split method or de-identification mode; ``pseudonymize`` without
            a usable secret; Parquet without pyarrow; ``out_dir`` a file, or holding an earlier export
            or other files without ``force``; bad fractions.
    """
    if options.fmt not in FORMATS:
        raise ExportError(f"--format must be one of {', '.join(FORMATS)}, got {options.fmt!r}")
    if options.split not in METHODS:
        raise ExportError(f"--split must be one of {', '.join(METHODS)}, got {options.split!r}")
    if options.deid not in MODES:
        raise ExportError(f"de-identification must be one of {', '.join(MODES)}, got {options.deid!r}")
    if options.deid == "pseudonymize":
        check_secret(options.secret if options.secret is not None else settings.export_secret)
    if options.fmt == "parquet":
        require_pyarrow()
    out = Path(options.out_dir)
    if out.exists() and not out.is_dir():
        raise ExportError(f"--out {out} exists and is not a folder")
    present = [f for f in OUTPUT_FILES if (out / f).exists()]
    if present and not options.force:
        raise ExportError(f"--out {out} already holds an export ({', '.join(present)}); choose another folder "
                          "or pass --force to replace it")
    other = sorted(p.name for p in out.iterdir() if p.name not in OWN_FILES) if out.is_dir() else []
    if other and not options.force:
        shown = ", ".join(other[:5]) + (f" and {len(other) - 5} more" if len(other) > 5 else "")
        raise ExportError(f"--out {out} holds other files ({shown}); choose a new or empty folder, or pass "
                          "--force to write the export beside them (they are left alone)")
    return check_fractions(options.fractions if options.fractions is not None else settings.export_split_fractions)


def load_literals(session: Session, hmac_key: str | bytes, extract: Callable[[str], list[Mention]]) -> ContactLiterals:
    """Every raw contact string stored in the database, with its type and link key.

    ``entity.value`` (contact types; the handle's name after ``@`` too), ``ad_entity.text`` (contact
    types) and ``ad.contact_raw`` (each line, plus the contacts ``extract`` finds in it), of every
    stored ad, exported or not.
    """
    lits: dict[str, tuple[str, str]] = {}
    for type_, value, key in session.execute(
        select(Entity.type, Entity.value, Entity.value_hmac).where(Entity.type.in_(CONTACT_ENTITY_TYPES),
                                                                  Entity.value.is_not(None))
    ):
        if not value:
            continue
        lits[value] = (type_, key)
        if type_ == "handle":
            name = value.split(":", 1)[-1].lstrip("@")
            lits.setdefault(name, (type_, key))
    for type_, text, key in session.execute(
        select(AdEntity.type, AdEntity.text, Entity.value_hmac).join(Entity, Entity.id == AdEntity.entity_id)
        .where(AdEntity.type.in_(CONTACT_ENTITY_TYPES), AdEntity.text.is_not(None))
    ):
        if text:
            lits.setdefault(text, (type_, key))
    for raw in session.scalars(select(Ad.contact_raw).where(Ad.contact_raw.is_not(None))):
        if not raw:
            continue
        for m in extract(raw):
            lits.setdefault(raw[m.start:m.end], (m.type, m.link_key))
        for line in [raw, *raw.splitlines()]:
            if line.strip():
                lits.setdefault(line.strip(), ("contact", entity_hmac(hmac_key, "contact", line.strip().lower())))
    return ContactLiterals(lits)


def _utc_iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC (SQLite returns naive datetimes; adwatch stores UTC)."""
    if value is None:
        return None
    return (value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)).isoformat()


def _iso_date(value: str | None) -> str | None:
    """``ad.posted_date`` as an ISO date (``YYYY-MM-DD``); None when missing or unreadable."""
    if not value:
        return None
    try:
        return date.fromisoformat(str(value)[:10]).isoformat()
    except ValueError:
        return None


def _os_user() -> str | None:
    """The operating-system user running the export, or None when it cannot be told."""
    try:
        return getpass.getuser()
    except (OSError, KeyError, ImportError):  # no LOGNAME/USER and no passwd entry (some containers)
        return None


def _latest_scores(session: Session, ad_ids: list[int]) -> dict[int, Score]:
    newest = select(func.max(Score.id)).where(Score.ad_id.in_(ad_ids)).group_by(Score.ad_id)
    return {s.ad_id: s for s in session.scalars(select(Score).where(Score.id.in_(newest)))}


def _rows(session: Session, deid: Deidentifier, ad_ids: list[int], splits: dict[int, str],
          labels: dict[int, Any]) -> list[tuple[dict[str, Any], Counter[str]]]:
    """Exported rows of ``ad_ids`` with their replacement counts."""
    ads = {r.id: r for r in session.execute(
        select(Ad.id, Ad.text, Ad.ad_type, Ad.site, Ad.posted_date, Ad.first_seen).where(Ad.id.in_(ad_ids)))}
    scores = _latest_scores(session, ad_ids)
    hits: dict[int, list[IndicatorHit]] = {}
    if scores:
        for h in session.scalars(select(IndicatorHit).where(IndicatorHit.score_id.in_([s.id for s in scores.values()]))
                                 .order_by(IndicatorHit.start, IndicatorHit.end, IndicatorHit.id)):
            hits.setdefault(h.score_id, []).append(h)
    stored: dict[int, list[Mention]] = {}
    for ad_id, type_, start, end, key in session.execute(
        select(AdEntity.ad_id, AdEntity.type, AdEntity.start, AdEntity.end, Entity.value_hmac)
        .join(Entity, Entity.id == AdEntity.entity_id)
        .where(AdEntity.ad_id.in_(ad_ids), AdEntity.type.in_(CONTACT_ENTITY_TYPES))
    ):
        stored.setdefault(ad_id, []).append(Mention(start, end, type_, key))
    out = []
    for ad_id in ad_ids:
        ad = ads[ad_id]
        text = ad.text or ""
        result = deid.deidentify(text, stored.get(ad_id, ()), ref=f"ad {ad_id}")
        score = scores.get(ad_id)
        indicators = []
        for h in hits.get(score.id, []) if score is not None else []:
            if 0 <= h.start < h.end <= len(text):
                s, e = result.map_span(h.start, h.end)
                indicators.append({"indicator_id": h.indicator_id, "category": h.category, "start": s, "end": e})
        label = labels.get(ad_id)
        out.append(({
            "ad_id": ad_id, "text": result.text, "ad_type": ad.ad_type, "site": ad.site,
            "posted_at": _iso_date(ad.posted_date), "first_seen": _utc_iso(ad.first_seen),
            "indicators": indicators, "risk": round(float(score.risk), 6) if score is not None else None,
            "model_version": score.model_version if score is not None else None,
            "labels": label.as_dict() if label is not None else None, "split": splits[ad_id],
        }, result.counts()))
    return out


def link_ads(session: Session, settings: AppSettings) -> bool:
    """Bring contact networks and template clusters up to date (``linking.update``) so that every ad
    to export has its groups; False when the linking package is not installed (splits then keep
    ads sharing a stored contact entity or an identical text together, :func:`export.splits.ad_groupings`).

    Raises:
        ExportError: linking failed (``linking.LinkingError``, e.g. stored signatures made with other
            settings: run ``adwatch link --rebuild``).

    On SQLite ``linking.update`` takes the database's write lock: commit right after it, before a long
    export, so that crawls can write meanwhile.
    """
    if not linking_available():
        return False
    linking = importlib.import_module("linking")
    try:
        linking.update(session, settings=settings)
    except linking.LinkingError as exc:
        raise ExportError(f"cannot bring contact networks and template clusters up to date: {exc}") from exc
    return True


def run_export(session: Session, options: ExportOptions, *, settings: AppSettings | None = None,
               progress: Progress | None = None, update_links: bool = True) -> ExportResult:
    """Write a de-identified, labelled, split dataset and audit it (see the module docstring).

    Args:
        session: open Session; the caller commits (the audit event, and linking's updates).
        options: what to export.
        settings: application settings (default :func:`config.settings.get_settings`): HMAC key,
            export secret, split fractions, indicator lexicons, phone region.
        progress: called with ``(ads written, ads to write)`` after every batch.
        update_links: call :func:`link_ads` first (pass False when the caller did and committed).

    Returns:
        What was written (:class:`ExportResult`).

    Raises:
        ExportRefused: the operator is not an active researcher or admin (audited).
        ExportError: bad options, missing secret for ``pseudonymize``, pyarrow missing for Parquet,
            an earlier export in ``out_dir`` without ``force``, or a text that stayed identifiable.
    """
    settings = settings or get_settings()
    operator = check_operator(session, options.operator)
    fractions = check_options(options, settings)
    secret = options.secret if options.secret is not None else settings.export_secret

    if update_links:
        link_ads(session, settings)

    # every exportable ad joins groups, also those left out (--labelled-only), so that an unlabelled
    # ad linking two labelled ones keeps them together, and --split random gives them one split
    rows = session.execute(select(Ad.id, Ad.first_seen, Ad.posted_date)
                           .where(Ad.status.not_in(EXCLUDED_STATUSES)).order_by(Ad.id)).all()
    universe = [r.id for r in rows]
    labels = ad_labels(session, None)
    ad_ids = [a for a in universe if not options.labelled_only or (a in labels and labels[a].label is not None)]
    wanted = set(ad_ids)
    times, time_basis = split_times({r.id: r.posted_date for r in rows if r.id in wanted},
                                    {r.id: r.first_seen for r in rows if r.id in wanted})
    groupings = ad_groupings(session, universe)
    ad_labels_01 = {a: labels[a].label for a in ad_ids if a in labels}
    splits = assign_splits(ad_ids, list(groupings.values()), options.split, fractions, options.seed,
                           times=times, labels=ad_labels_01, context_ids=universe)
    warnings = split_warnings(splits, ad_labels_01, fractions, times=times if options.split == "time" else None)

    from scoring.extract import ContactExtractor, load_extraction_lexicon

    extractor = ContactExtractor(load_extraction_lexicon(settings.indicators_dir))
    finder = Deidentifier(extractor, "redact", settings.hmac_key, region=settings.default_region)
    literals = load_literals(session, settings.hmac_key, finder.found)
    deid = Deidentifier(extractor, options.deid, settings.hmac_key, secret=secret, literals=literals,
                        region=settings.default_region, pseudonym_chars=settings.export_pseudonym_chars)

    out_dir = Path(options.out_dir)
    created_dir = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in OUTPUT_FILES:  # with force: an earlier export's files go (another format's too)
        (out_dir / stale).unlink(missing_ok=True)
    writer: RowWriter = open_writer(options.fmt, out_dir)
    stats = DatasetStats()
    try:
        for i in range(0, len(ad_ids), BATCH):
            batch = _rows(session, deid, ad_ids[i:i + BATCH], splits, labels)
            writer.write([row for row, _ in batch])
            for row, counts in batch:
                stats.add(row, counts)
            if progress is not None:
                progress(min(i + BATCH, len(ad_ids)), len(ad_ids))
        digest = writer.close()
    except BaseException:
        writer.abort()
        raise
    files = {writer.path.name: {"rows": writer.rows, "sha256": digest}}
    if progress is not None and not ad_ids:
        progress(0, 0)

    params = {"format": options.fmt, "split": options.split, "fractions": list(fractions), "seed": options.seed,
              "deidentification": options.deid, "labelled_only": options.labelled_only,
              "pseudonym_letters": settings.export_pseudonym_chars if options.deid == "pseudonymize" else None}
    kept = {name: sum(1 for c in components(ad_ids, [g]) if len(c) > 1) for name, g in groupings.items()}
    created = utcnow().isoformat()
    sheet = build_datasheet(stats, params, kept, files, created, warnings=warnings,
                            time_basis=dict(time_basis) if options.split == "time" else None)
    (out_dir / "datasheet.json").write_text(json.dumps(sheet, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out_dir / "DATASHEET.md").write_text(render_markdown(sheet), encoding="utf-8")

    out_path = str(out_dir.resolve())
    event = audit(session, operator.username, "export", "dataset", out_path[:200], {
        **params, "role": operator.role, "out_dir": out_path, "host": socket.gethostname(), "os_user": _os_user(),
        "rows": stats.rows, "splits": dict(stats.by_split),
        "labels": dict(stats.labels), "replacements": dict(stats.replacements), "files": files,
        "linking": linking_available(), "groupings": kept, "warnings": warnings,
    })
    return ExportResult(out_dir=out_dir, files=files, rows=stats.rows, splits=dict(stats.by_split),
                        labels=dict(stats.labels), replacements=dict(stats.replacements), datasheet=sheet,
                        audit_event_id=event.id, warnings=warnings, created_dir=created_dir)

"""Reading and writing adwatch records. The caller owns the Session: nothing here commits.

Storage does not import scoring: the crawler's store pipeline converts a score into the plain
records below. Writes are set-based (a handful of statements per batch, not per ad), so a batch
of ads with their versions, scores, hits and entities costs about the same number of round trips
whatever its size.
"""

from __future__ import annotations

import hashlib
import hmac as _hmac
import os
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    Table,
    and_,
    case,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from storage.models import (
    Ad,
    AdEntity,
    AdVersion,
    AuditEvent,
    CrawlRun,
    Entity,
    IndicatorHit,
    Score,
    Site,
    utcnow,
)

AD_FIELDS = (
    "title", "body", "employer", "location_raw", "salary_raw", "salary_min", "salary_max",
    "salary_currency", "salary_period", "posted_raw", "posted_date", "contact_raw", "source", "fetched_at",
)
"""Optional ad columns an :class:`AdRecord` may carry in ``fields``."""

CONTACT_ENTITY_TYPES = frozenset({"phone", "email", "handle", "url"})
"""Entity types that identify a person: masked for display, their raw values removed by ``purge``."""

FLAGGED_BANDS = ("medium", "high")
"""Score bands that put an ad in the analyst queue (``config.settings.Bands``)."""

_CHUNK = 500  # keys per IN (...) list


def _table(model: type[Any]) -> Table:
    """The Core table of an ORM class (Core executemany is much faster than ORM bulk inserts)."""
    return cast(Table, model.__table__)


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _chunks(seq: Sequence[Any], n: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


# ------------------------------------------------------------------ records --------------------
@dataclass(slots=True)
class ScoreRecord:
    """A score ready to store.

    Attributes:
        model_version: ``<name>-<version>`` or ``rules-only``.
        risk: probability-like risk in [0, 1].
        band: ``low``, ``medium`` or ``high``.
        lang: language code or None.
        categories: distinct indicator categories.
        explanation: JSON-serialisable explanation.
        hits: dicts with ``indicator_id, category, start, end, text, weight``.
        entities: dicts with ``type, value, start, end, text`` (``value`` normalised: E.164 phone,
            lower-case e-mail...).
    """

    model_version: str
    risk: float
    band: str
    lang: str | None = None
    categories: list[str] = field(default_factory=list)
    explanation: dict[str, Any] = field(default_factory=dict)
    hits: list[dict[str, Any]] = field(default_factory=list)
    entities: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class AdRecord:
    """An ad ready to store.

    Attributes:
        canonical_url: the unique key of the ad.
        url: the URL as fetched.
        site: site profile name (or host for ad-hoc crawls).
        ad_type: ``job``, ``escort`` or ``other``.
        text: the scored text (offsets of hits and entities point into it).
        content_sha256: hash of the ad's content; an unchanged hash means an unchanged ad.
        fields: optional columns named in :data:`AD_FIELDS`.
        score: the score, or None to store the ad unscored.
        etag, last_modified: the page's HTTP validators (for conditional requests), if sent.
        raw_html: the page's HTML, when the crawl keeps it (removed by ``purge``).
    """

    canonical_url: str
    url: str
    site: str
    ad_type: str
    text: str
    content_sha256: str
    fields: dict[str, Any] = field(default_factory=dict)
    score: ScoreRecord | None = None
    etag: str | None = None
    last_modified: str | None = None
    raw_html: str | None = None


@dataclass(slots=True)
class UpsertCounts:
    """What :func:`upsert_ads` did: ads inserted, updated (content changed: a new version) and unchanged."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass(slots=True)
class QueueRow:
    """One row of the analyst queue (no contact details: those stay with authorised roles)."""

    ad_id: int
    url: str
    site: str
    ad_type: str
    title: str | None
    risk: float
    band: str
    categories: list[str]
    status: str
    model_version: str
    top_features: list[str] = field(default_factory=list)
    """Model features that raised this ad's risk (positive explanation terms), strongest first."""

    def as_dict(self) -> dict[str, Any]:
        """The row as a JSON-serialisable dict (the ``adwatch queue --format json`` object)."""
        return {
            "ad_id": self.ad_id, "url": self.url, "site": self.site, "ad_type": self.ad_type,
            "title": self.title, "risk": round(self.risk, 4), "band": self.band,
            "categories": self.categories, "status": self.status, "model_version": self.model_version,
            "top_features": self.top_features,
        }


# ------------------------------------------------------------------ entities -------------------
def entity_hmac(key: str | bytes, type_: str, value: str) -> str:
    """Hex HMAC-SHA256 of ``"<type>:<value>"`` under ``key`` (the installation's secret).

    Equal normalised values of one type give equal digests, so ads can be linked through a phone
    number without the number leaving the database (exports carry only the digest).
    """
    k = key.encode("utf-8") if isinstance(key, str) else key
    return _hmac.new(k, f"{type_}:{value}".encode(), hashlib.sha256).hexdigest()


def mask_value(type_: str, value: str) -> str:
    """A display form of an entity that does not reveal it.

    Phones keep the country code and last 4 digits (``+12125550147`` -> ``+1******0147``);
    e-mails the first letter and the domain (``j***@example.org``); handles and URLs the first
    two characters; other types (age, price) are not identifying and are shown as they are.
    """
    if type_ == "phone":
        digits = value.lstrip("+")
        cc = 1 if digits.startswith("1") else 2
        head = ("+" if value.startswith("+") else "") + digits[:cc]
        return head + "*" * max(len(digits) - cc - 4, 0) + digits[-4:]
    if type_ == "email" and "@" in value:
        local, domain = value.split("@", 1)
        return (local[:1] or "*") + "***@" + domain
    if type_ in CONTACT_ENTITY_TYPES:
        return value[:2] + "***"
    return value


def _hmac_key(key: str | bytes | None) -> str | bytes:
    if key is not None:
        return key
    from config.settings import get_settings

    return get_settings().hmac_key


def _dialect_insert(session: Session, table: Any) -> Any:
    name = session.get_bind().dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


def _entity_ids(session: Session, wanted: dict[tuple[str, str], tuple[str, str]], now: datetime) -> dict[tuple[str, str], int]:
    """Ids of entities keyed by ``(type, hmac)``; missing ones inserted (concurrent writers tolerated)."""
    if not wanted:
        return {}
    keys = list(wanted)
    found: dict[tuple[str, str], int] = {}

    def lookup() -> None:
        for chunk in _chunks([h for _, h in keys]):
            for id_, type_, h in session.execute(select(Entity.id, Entity.type, Entity.value_hmac).where(Entity.value_hmac.in_(chunk))):
                found[(type_, h)] = id_

    lookup()
    missing = [k for k in keys if k not in found]
    if missing:
        stmt = _dialect_insert(session, Entity.__table__).on_conflict_do_nothing(index_elements=["type", "value_hmac"])
        session.execute(stmt, [
            {"type": t, "value_hmac": h, "value": wanted[(t, h)][0], "masked": wanted[(t, h)][1], "first_seen": now}
            for t, h in missing
        ])
        lookup()
    return found


# ------------------------------------------------------------------ sites and runs -------------
def site_ids(session: Session, names: Iterable[str]) -> dict[str, int]:
    """Ids of the ``site`` rows named ``names``, inserting the missing ones."""
    names = sorted(set(names))
    if not names:
        return {}
    found = dict(session.execute(select(Site.name, Site.id).where(Site.name.in_(names))).tuples().all())
    missing = [n for n in names if n not in found]
    if missing:
        stmt = _dialect_insert(session, Site.__table__).on_conflict_do_nothing(index_elements=["name"])
        session.execute(stmt, [{"name": n, "created_at": utcnow()} for n in missing])
        found = dict(session.execute(select(Site.name, Site.id).where(Site.name.in_(names))).tuples().all())
    return found


def start_run(
    session: Session, site: str, *, pid: int | None = None, host: str | None = None, jobdir: str | None = None,
    resumed_from: int | None = None,
) -> CrawlRun:
    """Add a ``running`` crawl run for ``site`` and flush it so it has an id.

    Args:
        site: site profile name.
        pid, host: the crawling process (default: this process on this host), so that a later
            process can tell whether a ``running`` run is still alive (:func:`mark_dead_runs`).
        jobdir: the Scrapy JOBDIR of a resumable crawl.
        resumed_from: the interrupted run this one continues.
    """
    run = CrawlRun(
        site=site, site_id=site_ids(session, [site])[site], status="running", stats={},
        pid=os.getpid() if pid is None else pid, host=host or socket.gethostname(), jobdir=jobdir,
        resumed_from=resumed_from,
    )
    session.add(run)
    session.flush()
    return run


def finish_run(session: Session, run_id: int, status: str, stats: dict[str, Any]) -> None:
    """Mark crawl run ``run_id`` as ``status`` with ``stats`` (JSON-serialisable) and the end time now.

    Raises:
        KeyError: no crawl run has that id.
    """
    run = session.get(CrawlRun, run_id)
    if run is None:
        raise KeyError(f"no crawl run with id {run_id}")
    run.status = status
    run.finished_at = utcnow()
    run.stats = stats


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (killed, not yet reaped by its parent) is dead
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def mark_dead_runs(
    session: Session, *, host: str | None = None, is_alive: Callable[[int], bool] = _pid_alive,
    run_ids: Iterable[int] | None = None,
) -> list[int]:
    """Mark ``running`` runs whose process is gone as ``interrupted``; return their ids.

    Only runs recorded on ``host`` (default: this host) are checked, since a process on another
    machine cannot be probed; ``run_ids`` marks those runs regardless of host and pid (a JOBDIR
    whose previous owner is known to be dead).
    """
    host = host or socket.gethostname()
    marked: list[int] = []
    stmt = select(CrawlRun).where(CrawlRun.status == "running")
    forced = set(run_ids or ())
    for run in session.scalars(stmt):
        dead = run.id in forced or (run.host == host and run.pid is not None and run.pid != os.getpid() and not is_alive(run.pid))
        if dead:
            run.status = "interrupted"
            run.finished_at = run.finished_at or utcnow()
            run.stats = {**(run.stats or {}), "finish_reason": "process died (found by a later process)"}
            marked.append(run.id)
    session.flush()
    return marked


def list_runs(session: Session, limit: int = 20, site: str | None = None, status: str | None = None) -> list[CrawlRun]:
    """The newest ``limit`` crawl runs, newest first (optionally of one site and/or status)."""
    stmt = select(CrawlRun).order_by(CrawlRun.id.desc()).limit(limit)
    if site:
        stmt = stmt.where(CrawlRun.site == site)
    if status:
        stmt = stmt.where(CrawlRun.status == status)
    return list(session.scalars(stmt))


# ------------------------------------------------------------------ ads ------------------------
def upsert_ads(
    session: Session, records: Sequence[AdRecord], run_id: int | None = None, now: datetime | None = None,
    *, hmac_key: str | bytes | None = None,
) -> UpsertCounts:
    """Insert new ads, version changed ones and touch unchanged ones, keyed by canonical URL.

    Within ``records`` a canonical URL that occurs twice is stored once (the last record wins).

    * new ad: an ``ad`` row, version 1 in ``ad_version``, its score, hits and entities;
    * changed ad (other ``content_sha256``): the ad's columns updated, a new ``ad_version``, a new
      score (older scores are kept as history), its entities replaced; ``first_seen`` kept;
    * unchanged ad: only ``last_seen``, ``last_run_id`` (and the HTTP validators) updated; an
      expired ad seen again becomes ``active`` (a ``removed`` one stays removed).

    Args:
        session: open Session; the caller commits.
        records: ads to store.
        run_id: the crawl run that saw them, or None.
        now: the time to record (default: now, UTC).
        hmac_key: secret for entity HMACs (default ``AppSettings.hmac_key``).

    Returns:
        The counts of inserted, updated and unchanged ads.
    """
    now = now or utcnow()
    latest: dict[str, AdRecord] = {}
    for rec in records:
        latest[rec.canonical_url] = rec
    counts = UpsertCounts()
    if not latest:
        return counts
    key = _hmac_key(hmac_key)
    existing: dict[str, tuple[int, str, int, str | None, str | None, str]] = {}
    for chunk in _chunks(list(latest)):
        for row in session.execute(
            select(Ad.canonical_url, Ad.id, Ad.content_sha256, Ad.version, Ad.etag, Ad.last_modified, Ad.url)
            .where(Ad.canonical_url.in_(chunk))
        ):
            existing[row[0]] = tuple(row[1:])  # type: ignore[assignment]
    sites = site_ids(session, {r.site for r in latest.values()})

    new: list[AdRecord] = []
    changed: list[tuple[int, int, AdRecord]] = []  # (ad id, new version number, record)
    unchanged_ids: list[int] = []
    validators: list[dict[str, Any]] = []
    for url, rec in latest.items():
        old = existing.get(url)
        if old is None:
            new.append(rec)
        elif old[1] == rec.content_sha256:
            unchanged_ids.append(old[0])
            if (old[3], old[4], old[5]) != (rec.etag, rec.last_modified, rec.url):
                # validators for conditional requests, and the URL it was last fetched at (links in the
                # queue must point where the ad is now, e.g. the demo board's port of this run)
                validators.append({"id": old[0], "etag": rec.etag, "last_modified": rec.last_modified, "url": rec.url})
        else:
            changed.append((old[0], old[2] + 1, rec))

    # unchanged: one UPDATE
    for chunk in _chunks(unchanged_ids):
        session.execute(
            update(Ad).where(Ad.id.in_(chunk)).values(
                last_seen=now, last_run_id=run_id,
                status=case((Ad.status == "removed", "removed"), else_="active"),
                expired_at=None, expired_reason=None,
            ),
            execution_options={"synchronize_session": False},
        )
    if validators:
        session.execute(update(Ad), validators, execution_options={"synchronize_session": False})
    counts.unchanged = len(unchanged_ids)

    def columns(rec: AdRecord) -> dict[str, Any]:
        values = {k: rec.fields.get(k) for k in AD_FIELDS}
        values.update(
            url=rec.url, site=rec.site, site_id=sites[rec.site], ad_type=rec.ad_type, text=rec.text,
            content_sha256=rec.content_sha256, last_seen=now, last_run_id=run_id, etag=rec.etag,
            last_modified=rec.last_modified, raw_html=rec.raw_html,
        )
        return values

    ad_ids: dict[str, int] = {}
    versions: list[tuple[int, int, AdRecord]] = [(ad_id, v, rec) for ad_id, v, rec in changed]
    if new:
        rows = [
            {**columns(rec), "canonical_url": rec.canonical_url, "first_seen": now, "first_run_id": run_id,
             "version": 1, "status": "active", "review_status": "new"}
            for rec in new
        ]
        # plain executemany, then one indexed lookup: much faster than INSERT ... RETURNING, which
        # SQLite runs row by row when the returned rows must follow the parameter order
        session.execute(insert(_table(Ad)), rows)
        for chunk in _chunks([rec.canonical_url for rec in new]):
            for url, ad_id in session.execute(select(Ad.canonical_url, Ad.id).where(Ad.canonical_url.in_(chunk))):
                ad_ids[url] = ad_id
        versions.extend((ad_ids[rec.canonical_url], 1, rec) for rec in new)
        counts.inserted = len(new)
    if changed:
        session.execute(
            update(Ad),
            [{**columns(rec), "id": ad_id, "version": v, "status": "active", "expired_at": None, "expired_reason": None}
             for ad_id, v, rec in changed],
            execution_options={"synchronize_session": False},
        )
        changed_ids = [ad_id for ad_id, _, _ in changed]
        for chunk in _chunks(changed_ids):
            session.execute(delete(AdEntity).where(AdEntity.ad_id.in_(chunk)), execution_options={"synchronize_session": False})
        counts.updated = len(changed)
    if not versions:
        return counts

    session.execute(
        insert(_table(AdVersion)),
        [{"ad_id": ad_id, "version": v, "content_sha256": rec.content_sha256, "text": rec.text,
          "fields": {k: rec.fields.get(k) for k in AD_FIELDS if rec.fields.get(k) is not None},
          "seen_at": now, "run_id": run_id} for ad_id, v, rec in versions],
    )
    ids_by_number: dict[tuple[int, int], int] = {}
    for chunk in _chunks(sorted({ad_id for ad_id, _, _ in versions})):
        for ad_id, number, vid in session.execute(
            select(AdVersion.ad_id, AdVersion.version, AdVersion.id).where(AdVersion.ad_id.in_(chunk))
        ):
            ids_by_number[(ad_id, number)] = vid
    version_ids = [ids_by_number[(ad_id, v)] for ad_id, v, _ in versions]
    _store_scores(session, [(ad_id, vid, rec.content_sha256, rec.score)
                            for (ad_id, _, rec), vid in zip(versions, version_ids) if rec.score is not None], now)
    _store_entities(session, [(ad_id, rec.score) for ad_id, _, rec in versions if rec.score is not None], key, now)
    return counts


def _store_scores(session: Session, items: Sequence[tuple[int, int, str, ScoreRecord]], now: datetime) -> None:
    if not items:
        return
    session.execute(
        insert(_table(Score)),
        [{"ad_id": ad_id, "ad_version_id": vid, "model_version": s.model_version, "risk": float(s.risk),
          "band": s.band, "lang": s.lang, "categories": list(s.categories), "explanation": s.explanation,
          "content_sha256": sha, "scored_at": now} for ad_id, vid, sha, s in items],
    )
    score_ids: dict[tuple[int, str], int] = {}
    for chunk in _chunks(sorted({vid for _, vid, _, _ in items})):
        for row_vid, mv, score_id in session.execute(
            select(Score.ad_version_id, Score.model_version, Score.id).where(Score.ad_version_id.in_(chunk))
        ):
            score_ids[(int(row_vid or 0), mv)] = score_id
    hits = []
    for ad_id, vid, _, s in items:
        score_id = score_ids[(vid, s.model_version)]
        for h in s.hits:
            hits.append({"score_id": score_id, "indicator_id": h["indicator_id"], "category": h["category"],
                         "start": int(h["start"]), "end": int(h["end"]), "text": h["text"], "weight": float(h["weight"])})
    if hits:
        session.execute(insert(_table(IndicatorHit)), hits)


def _store_entities(session: Session, items: Sequence[tuple[int, ScoreRecord]], key: str | bytes, now: datetime) -> None:
    wanted: dict[tuple[str, str], tuple[str, str]] = {}
    links: list[tuple[int, tuple[str, str], dict[str, Any]]] = []
    for ad_id, s in items:
        for e in s.entities:
            value = str(e["value"])
            k = (e["type"], entity_hmac(key, e["type"], value))
            wanted.setdefault(k, (value, mask_value(e["type"], value)))
            links.append((ad_id, k, e))
    if not links:
        return
    ids = _entity_ids(session, wanted, now)
    session.execute(insert(_table(AdEntity)), [
        {"ad_id": ad_id, "entity_id": ids[k], "type": e["type"], "start": int(e["start"]), "end": int(e["end"]),
         "text": e.get("text")}
        for ad_id, k, e in links
    ])


def touch_ads(session: Session, canonical_urls: Sequence[str], run_id: int | None = None,
              now: datetime | None = None) -> int:
    """Record that unchanged ads were seen (an HTTP 304 Not Modified): ``last_seen``/``last_run_id`` only.

    Returns:
        How many stored ads matched.
    """
    now = now or utcnow()
    n = 0
    for chunk in _chunks(list(dict.fromkeys(canonical_urls))):
        res = session.execute(
            update(Ad).where(Ad.canonical_url.in_(chunk)).values(
                last_seen=now, last_run_id=run_id, status=case((Ad.status == "removed", "removed"), else_="active"),
                expired_at=None, expired_reason=None),
            execution_options={"synchronize_session": False},
        )
        n += _rowcount(res)
    return n


def mark_expired(session: Session, gone: Sequence[tuple[str, str]], run_id: int | None = None,
                 now: datetime | None = None) -> int:
    """Mark stored ads as ``expired`` (their page answered 404/410, was a soft 404 or an "expired" page).

    Args:
        gone: ``(canonical_url, reason)`` pairs; unknown URLs are ignored.
        run_id: the crawl run that found them gone (recorded as ``last_run_id``).

    Returns:
        How many active ads became expired.
    """
    now = now or utcnow()
    n = 0
    reasons: dict[str, list[str]] = {}
    for url, reason in dict(gone).items():
        reasons.setdefault(reason[:200], []).append(url)
    for reason, urls in reasons.items():
        for chunk in _chunks(urls):
            res = session.execute(
                update(Ad).where(Ad.canonical_url.in_(chunk), Ad.status == "active").values(
                    status="expired", expired_at=now, expired_reason=reason, last_run_id=run_id),
                execution_options={"synchronize_session": False},
            )
            n += _rowcount(res)
    return n


def validators_for(session: Session, site: str) -> dict[str, tuple[str | None, str | None]]:
    """``{canonical_url: (etag, last_modified)}`` of the active ads of ``site`` that have a validator."""
    rows = session.execute(
        select(Ad.canonical_url, Ad.etag, Ad.last_modified)
        .where(Ad.site == site, Ad.status == "active", or_(Ad.etag.is_not(None), Ad.last_modified.is_not(None)))
    )
    return {url: (etag, lm) for url, etag, lm in rows}


def urls_done_by_runs(session: Session, run_ids: Sequence[int]) -> set[str]:
    """Canonical URLs of ads stored, touched or expired by the crawl runs ``run_ids`` (to resume a crawl)."""
    if not run_ids:
        return set()
    return set(session.scalars(select(Ad.canonical_url).where(Ad.last_run_id.in_(list(run_ids)))))


def count_ads(session: Session, site: str | None = None, status: str | None = None) -> int:
    """Number of stored ads (optionally of one site and/or status)."""
    stmt = select(func.count(Ad.id))
    if site:
        stmt = stmt.where(Ad.site == site)
    if status:
        stmt = stmt.where(Ad.status == status)
    return int(session.scalar(stmt) or 0)


def queue(
    session: Session, *, top: int = 10, min_risk: float | None = None, flagged_only: bool = True,
    site: str | None = None, ad_type: str | None = None,
) -> list[QueueRow]:
    """Return ads ranked by their latest score's risk, highest first.

    Args:
        session: open Session.
        top: at most this many rows.
        min_risk: keep ads with risk >= this (a probability in [0, 1]); ``None`` with
            ``flagged_only`` keeps the medium and high bands.
        flagged_only: when ``min_risk`` is None, keep only flagged (medium/high band) ads.
        site: only this site.
        ad_type: only this ad type.

    Returns:
        Up to ``top`` :class:`QueueRow` objects; ties broken by newest ad first.
    """
    latest = select(Score.ad_id, func.max(Score.id).label("score_id")).group_by(Score.ad_id).subquery()
    stmt = (
        select(Ad, Score)
        .join(latest, latest.c.ad_id == Ad.id)
        .join(Score, Score.id == latest.c.score_id)
        .order_by(Score.risk.desc(), Ad.id.desc())
        .limit(top)
    )
    if min_risk is not None:
        stmt = stmt.where(Score.risk >= min_risk)
    elif flagged_only:
        stmt = stmt.where(Score.band.in_(FLAGGED_BANDS))
    if site:
        stmt = stmt.where(Ad.site == site)
    if ad_type:
        stmt = stmt.where(Ad.ad_type == ad_type)
    return [
        QueueRow(
            ad_id=ad.id, url=ad.url, site=ad.site, ad_type=ad.ad_type, title=ad.title, risk=score.risk,
            band=score.band, categories=list(score.categories or []), status=ad.review_status,
            model_version=score.model_version,
            # "why" lists what raised the risk: features with a negative term lowered it
            top_features=[str(f[0]) for f in (score.explanation or {}).get("top_features", [])
                          if f and len(f) > 1 and float(f[1]) > 0],
        )
        for ad, score in session.execute(stmt).all()
    ]


# ------------------------------------------------------------------ rescoring ------------------
@dataclass(slots=True)
class UnscoredAd:
    """The current version of an ad that has no score for a model version (input to rescoring)."""

    ad_id: int
    ad_version_id: int
    content_sha256: str
    text: str
    ad_type: str
    fields: dict[str, Any]


def ads_missing_score(session: Session, model_version: str, limit: int = 500, after_id: int = 0) -> list[UnscoredAd]:
    """Active ads (id > ``after_id``, ascending) whose current version has no score from ``model_version``."""
    scored = exists().where(Score.ad_version_id == AdVersion.id, Score.model_version == model_version)
    stmt = (
        select(Ad.id, AdVersion.id, AdVersion.content_sha256, AdVersion.text, Ad.ad_type, AdVersion.fields)
        .join(AdVersion, and_(AdVersion.ad_id == Ad.id, AdVersion.version == Ad.version))
        .where(Ad.status == "active", Ad.id > after_id, ~scored)
        .order_by(Ad.id)
        .limit(limit)
    )
    return [UnscoredAd(*row) for row in session.execute(stmt)]


def add_scores(session: Session, items: Sequence[tuple[UnscoredAd, ScoreRecord]], *,
               hmac_key: str | bytes | None = None, now: datetime | None = None) -> int:
    """Store new scores for ad versions (rescoring with a new model); entities are left as they are.

    Returns:
        The number of scores stored.
    """
    now = now or utcnow()
    _store_scores(session, [(u.ad_id, u.ad_version_id, u.content_sha256, s) for u, s in items], now)
    return len(items)


# ------------------------------------------------------------------ audit and purge ------------
def audit(session: Session, actor: str, action: str, target_type: str | None = None,
          target_id: str | None = None, details: dict[str, Any] | None = None) -> AuditEvent:
    """Add an audit event (who did what to what) and flush it."""
    event = AuditEvent(actor=actor, action=action, target_type=target_type, target_id=target_id,
                       details=details or {}, at=utcnow())
    session.add(event)
    session.flush()
    return event


@dataclass(slots=True)
class PurgeCounts:
    """What :func:`purge_raw` did: ads purged, entity mentions blanked, entity values removed."""

    ads: int = 0
    mentions: int = 0
    entity_values: int = 0


def _blank(text: str | None, spans: Sequence[tuple[int, int]]) -> str | None:
    if not text:
        return text
    chars = list(text)
    for start, end in spans:
        for i in range(max(start, 0), min(end, len(chars))):
            if not chars[i].isspace():
                chars[i] = "*"
    return "".join(chars)


def purge_raw(session: Session, older_than_days: int, *, actor: str = "adwatch purge",
              now: datetime | None = None) -> PurgeCounts:
    """Remove raw HTML and raw contacts of ads never flagged and not seen for ``older_than_days`` days.

    For each such ad: ``raw_html`` and ``contact_raw`` are cleared; each contact mention (phone,
    e-mail, handle, URL) in the stored text, body and versions is overwritten with ``*`` of the same
    length (offsets of hits and entities stay valid) and its ``ad_entity.text`` is cleared. An
    entity's normalised value is removed once no flagged ad mentions it. Kept: the ad, its scores,
    hits, categories, the entity HMACs and masked forms (aggregates and links). "Flagged" means any
    score of the ad in a flagged band (:data:`FLAGGED_BANDS`). Writes one ``purge`` audit event.

    Args:
        older_than_days: purge ads whose ``last_seen`` is more than this many days ago (>= 0).
        actor: recorded in the audit event.
        now: reference time (default now, UTC).

    Raises:
        ValueError: ``older_than_days`` is negative.
    """
    if older_than_days < 0:
        raise ValueError(f"older_than_days must be >= 0, got {older_than_days}")
    now = now or utcnow()
    cutoff = now - timedelta(days=older_than_days)
    flagged = exists().where(Score.ad_id == Ad.id, Score.band.in_(FLAGGED_BANDS))
    ad_ids = list(session.scalars(select(Ad.id).where(Ad.last_seen < cutoff, Ad.purged_at.is_(None), ~flagged)))
    counts = PurgeCounts()
    for chunk in _chunks(ad_ids, 200):
        mentions: dict[int, list[tuple[int, int]]] = {}
        for ad_id, start, end in session.execute(
            select(AdEntity.ad_id, AdEntity.start, AdEntity.end)
            .where(AdEntity.ad_id.in_(chunk), AdEntity.type.in_(CONTACT_ENTITY_TYPES))
        ):
            mentions.setdefault(ad_id, []).append((start, end))
        raw_mentions: dict[int, list[str]] = {}
        for ad_id, text in session.execute(
            select(AdEntity.ad_id, AdEntity.text).where(AdEntity.ad_id.in_(chunk), AdEntity.type.in_(CONTACT_ENTITY_TYPES))
        ):
            if text:
                raw_mentions.setdefault(ad_id, []).append(text)
        for ad in session.scalars(select(Ad).where(Ad.id.in_(chunk))):
            spans = mentions.get(ad.id, [])
            ad.text = _blank(ad.text, spans) or ad.text
            for raw in raw_mentions.get(ad.id, []):
                if ad.body:
                    ad.body = ad.body.replace(raw, "*" * len(raw))
            ad.raw_html = None
            ad.contact_raw = None
            ad.purged_at = now
            for version in ad.versions:
                version.text = _blank(version.text, spans) or version.text if version.version == ad.version else version.text
                fields = dict(version.fields or {})
                fields.pop("contact_raw", None)
                if fields.get("body"):
                    for raw in raw_mentions.get(ad.id, []):
                        fields["body"] = fields["body"].replace(raw, "*" * len(raw))
                version.fields = fields
                if version.version != ad.version:
                    for raw in raw_mentions.get(ad.id, []):
                        version.text = version.text.replace(raw, "*" * len(raw))
            counts.ads += 1
            counts.mentions += len(spans)
        session.execute(
            update(AdEntity).where(AdEntity.ad_id.in_(chunk), AdEntity.type.in_(CONTACT_ENTITY_TYPES)).values(text=None),
            execution_options={"synchronize_session": False},
        )
    session.flush()
    # entity values no flagged ad still needs
    flagged_mention = exists().where(
        AdEntity.entity_id == Entity.id, exists().where(Score.ad_id == AdEntity.ad_id, Score.band.in_(FLAGGED_BANDS))
    )
    unpurged_mention = exists().where(
        AdEntity.entity_id == Entity.id, exists().where(Ad.id == AdEntity.ad_id, Ad.purged_at.is_(None))
    )
    res = session.execute(
        update(Entity).where(Entity.type.in_(CONTACT_ENTITY_TYPES), Entity.value.is_not(None), ~flagged_mention,
                             ~unpurged_mention).values(value=None),
        execution_options={"synchronize_session": False},
    )
    counts.entity_values = _rowcount(res)
    audit(session, actor, "purge", "ad", None, {
        "older_than_days": older_than_days, "cutoff": cutoff.isoformat(), "ads": counts.ads,
        "mentions": counts.mentions, "entity_values": counts.entity_values,
    })
    return counts

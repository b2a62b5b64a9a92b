"""Reading and writing adwatch records. The caller owns the Session: nothing here commits.

Storage does not import scoring: the crawler's store pipeline converts a score into the plain
records below.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.models import Ad, AdEntity, CrawlRun, IndicatorHit, Score, utcnow

AD_FIELDS = (
    "title", "body", "employer", "location_raw", "salary_raw", "salary_min", "salary_max",
    "salary_currency", "salary_period", "posted_raw", "posted_date", "contact_raw", "source", "fetched_at",
)
"""Optional ad columns an :class:`AdRecord` may carry in ``fields``."""


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
        entities: dicts with ``type, value, start, end, text``.
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
    """

    canonical_url: str
    url: str
    site: str
    ad_type: str
    text: str
    content_sha256: str
    fields: dict[str, Any] = field(default_factory=dict)
    score: ScoreRecord | None = None


@dataclass(slots=True)
class UpsertCounts:
    """What :func:`upsert_ads` did: ads inserted, updated (content changed) and unchanged."""

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

    def as_dict(self) -> dict[str, Any]:
        """The row as a JSON-serialisable dict (the ``adwatch queue --format json`` object)."""
        return {
            "ad_id": self.ad_id, "url": self.url, "site": self.site, "ad_type": self.ad_type,
            "title": self.title, "risk": round(self.risk, 4), "band": self.band,
            "categories": self.categories, "status": self.status, "model_version": self.model_version,
            "top_features": self.top_features,
        }


def start_run(session: Session, site: str) -> CrawlRun:
    """Add a ``running`` crawl run for ``site`` and flush it so it has an id."""
    run = CrawlRun(site=site, status="running", stats={})
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


def _add_score(session: Session, ad: Ad, rec: ScoreRecord, content_sha256: str) -> None:
    old = session.scalars(select(Score).where(Score.ad_id == ad.id, Score.model_version == rec.model_version)).all()
    for s in old:
        session.delete(s)
    if old:
        session.flush()
    score = Score(
        ad=ad, model_version=rec.model_version, risk=float(rec.risk), band=rec.band, lang=rec.lang,
        categories=list(rec.categories), explanation=rec.explanation, content_sha256=content_sha256,
    )
    score.hits = [IndicatorHit(**h) for h in rec.hits]
    session.add(score)
    ad.entities = [AdEntity(**e) for e in rec.entities]


def upsert_ads(
    session: Session, records: Sequence[AdRecord], run_id: int | None = None, now: datetime | None = None
) -> UpsertCounts:
    """Insert new ads, update changed ones and touch unchanged ones, keyed by canonical URL.

    Within ``records`` a canonical URL that occurs twice is stored once (the last record wins).
    Unchanged ads (same ``content_sha256``) only get ``last_seen`` and ``last_run_id`` updated; a
    changed ad gets its new fields and its score replaced.

    Args:
        session: open Session; the caller commits.
        records: ads to store.
        run_id: the crawl run that saw them, or None.
        now: the time to record (default: now, UTC).

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
    existing = {
        ad.canonical_url: ad
        for ad in session.scalars(select(Ad).where(Ad.canonical_url.in_(list(latest))))
    }
    for key, rec in latest.items():
        ad = existing.get(key)
        if ad is not None and ad.content_sha256 == rec.content_sha256:
            ad.last_seen = now
            ad.last_run_id = run_id
            ad.status = "active"
            counts.unchanged += 1
            continue
        values = {k: v for k, v in rec.fields.items() if k in AD_FIELDS}
        if ad is None:
            ad = Ad(
                canonical_url=key, url=rec.url, site=rec.site, ad_type=rec.ad_type, text=rec.text,
                content_sha256=rec.content_sha256, first_seen=now, last_seen=now,
                first_run_id=run_id, last_run_id=run_id, **values,
            )
            session.add(ad)
            counts.inserted += 1
        else:
            ad.url, ad.site, ad.ad_type, ad.text = rec.url, rec.site, rec.ad_type, rec.text
            ad.content_sha256 = rec.content_sha256
            ad.last_seen, ad.last_run_id, ad.status = now, run_id, "active"
            for k, v in values.items():
                setattr(ad, k, v)
            counts.updated += 1
        session.flush()
        if rec.score is not None:
            _add_score(session, ad, rec.score, rec.content_sha256)
    session.flush()
    return counts


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
        stmt = stmt.where(Score.band.in_(("medium", "high")))
    if site:
        stmt = stmt.where(Ad.site == site)
    if ad_type:
        stmt = stmt.where(Ad.ad_type == ad_type)
    return [
        QueueRow(
            ad_id=ad.id, url=ad.url, site=ad.site, ad_type=ad.ad_type, title=ad.title, risk=score.risk,
            band=score.band, categories=list(score.categories or []), status=ad.review_status,
            model_version=score.model_version,
            top_features=[str(f[0]) for f in (score.explanation or {}).get("top_features", []) if f],
        )
        for ad, score in session.execute(stmt).all()
    ]


def count_ads(session: Session, site: str | None = None) -> int:
    """Number of stored ads (optionally of one site)."""
    stmt = select(func.count(Ad.id))
    if site:
        stmt = stmt.where(Ad.site == site)
    return int(session.scalar(stmt) or 0)


def list_runs(session: Session, limit: int = 20) -> list[CrawlRun]:
    """The newest ``limit`` crawl runs, newest first."""
    return list(session.scalars(select(CrawlRun).order_by(CrawlRun.id.desc()).limit(limit)))

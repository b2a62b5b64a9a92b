"""SQLAlchemy 2.0 ORM models: the whole adwatch schema.

Every change to these classes ships with an Alembic migration in ``storage/migrations/versions``
(``adwatch db upgrade``; :func:`storage.db.make_engine` upgrades automatically). The same migrations
run on SQLite and PostgreSQL.

Tables (singular snake_case):

* ``site``: one row per site profile that has been crawled.
* ``crawl_run``: one crawl of one site; ``status`` running/finished/failed/interrupted.
* ``ad``: an advertisement, unique by ``canonical_url``; ``first_seen``/``last_seen``; ``status``
  active/expired/removed.
* ``ad_version``: every distinct content of an ad (by ``content_sha256``), numbered 1, 2, ...
* ``score`` (per ad version and model version) and its ``indicator_hit`` rows.
* ``entity`` (type, normalised value, keyed HMAC of the value, masked display form) and
  ``ad_entity`` (where an entity occurs in an ad's text).
* ``app_user``, ``review_item``, ``decision``, ``audit_event``: for the review app and export.
* ``contact_network``, ``template_cluster`` and ``ad_link`` (each ad's network, cluster and MinHash
  signature): written by ``linking``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

AD_STATUSES = ("active", "expired", "removed")
"""``ad.status`` values: seen on the last crawl / gone from the site (404, 410, soft 404, expired
page) / taken down on request (set by the review app)."""

RUN_STATUSES = ("running", "finished", "failed", "interrupted")
"""``crawl_run.status`` values. ``interrupted``: stopped by a signal, or found ``running`` after its
process died (SIGKILL, power loss)."""

# Integer primary keys that are BIGINT on PostgreSQL and INTEGER (rowid alias) on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    """Current time, timezone-aware UTC."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base of every adwatch table."""


class Site(Base):
    """A crawled site (one per site profile name)."""

    __tablename__ = "site"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CrawlRun(Base):
    """One crawl of one site.

    ``status``: see :data:`RUN_STATUSES`. ``stats``: Scrapy's stats plus adwatch's counters.
    ``pid``/``host``: the crawling process, so that a later process can tell a dead ``running`` run
    (marked ``interrupted``). ``jobdir``: Scrapy JOBDIR of a resumable crawl. ``resumed_from``: the
    interrupted run this one continues.
    """

    __tablename__ = "crawl_run"
    __table_args__ = (Index("ix_crawl_run_site_status", "site", "status"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    site: Mapped[str] = mapped_column(String(200))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("site.id"))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(20), default="running")
    stats: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    pid: Mapped[int | None] = mapped_column(Integer)
    host: Mapped[str | None] = mapped_column(String(255))
    jobdir: Mapped[str | None] = mapped_column(Text)
    resumed_from: Mapped[int | None] = mapped_column(ForeignKey("crawl_run.id"))


class Ad(Base):
    """A stored advertisement, unique by ``canonical_url``.

    ``text`` is the exact string that was scored (title, blank line, body); indicator and entity
    offsets point into it. ``status``: see :data:`AD_STATUSES`. ``review_status`` is the analysts'
    state: ``new``, ``confirmed``, ``dismissed``, ``escalated``, ``needs_info``. ``etag`` and
    ``last_modified`` are the validators of the ad's page for conditional requests. ``purged_at``:
    when ``adwatch purge`` removed the raw HTML and raw contacts.
    """

    __tablename__ = "ad"
    __table_args__ = (Index("ix_ad_site_status", "site", "status"), Index("ix_ad_last_seen", "last_seen"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    canonical_url: Mapped[str] = mapped_column(String(2000), unique=True)
    url: Mapped[str] = mapped_column(String(2000))
    site: Mapped[str] = mapped_column(String(200))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("site.id"))
    ad_type: Mapped[str] = mapped_column(String(20))
    title: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    employer: Mapped[str | None] = mapped_column(Text)
    location_raw: Mapped[str | None] = mapped_column(Text)
    salary_raw: Mapped[str | None] = mapped_column(Text)
    salary_min: Mapped[float | None] = mapped_column(Float)
    salary_max: Mapped[float | None] = mapped_column(Float)
    salary_currency: Mapped[str | None] = mapped_column(String(8))
    salary_period: Mapped[str | None] = mapped_column(String(10))
    posted_raw: Mapped[str | None] = mapped_column(Text)
    posted_date: Mapped[str | None] = mapped_column(String(32))
    contact_raw: Mapped[str | None] = mapped_column(Text)
    raw_html: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(String(20))
    content_sha256: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1)
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    fetched_at: Mapped[str | None] = mapped_column(String(40))
    first_run_id: Mapped[int | None] = mapped_column(ForeignKey("crawl_run.id"))
    last_run_id: Mapped[int | None] = mapped_column(ForeignKey("crawl_run.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="active")
    expired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expired_reason: Mapped[str | None] = mapped_column(String(200))
    etag: Mapped[str | None] = mapped_column(String(500))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    review_status: Mapped[str] = mapped_column(String(20), default="new")
    purged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    scores: Mapped[list[Score]] = relationship(back_populates="ad", cascade="all, delete-orphan")
    versions: Mapped[list[AdVersion]] = relationship(back_populates="ad", cascade="all, delete-orphan",
                                                     order_by="AdVersion.version")
    entities: Mapped[list[AdEntity]] = relationship(back_populates="ad", cascade="all, delete-orphan")


class AdVersion(Base):
    """One distinct content of an ad: kept for every change, numbered from 1 per ad.

    ``fields`` holds the optional ad columns (title, body, employer, salary...) as they were.
    """

    __tablename__ = "ad_version"
    __table_args__ = (
        UniqueConstraint("ad_id", "version", name="uq_ad_version_number"),
        Index("ix_ad_version_sha", "ad_id", "content_sha256"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ad_id: Mapped[int] = mapped_column(ForeignKey("ad.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    content_sha256: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("crawl_run.id"))

    ad: Mapped[Ad] = relationship(back_populates="versions")


class Score(Base):
    """The scorer's verdict on one version of an ad for one model version (history is kept)."""

    __tablename__ = "score"
    __table_args__ = (
        UniqueConstraint("ad_version_id", "model_version", name="uq_score_version_model"),
        Index("ix_score_risk", "risk"),
        Index("ix_score_ad", "ad_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ad_id: Mapped[int] = mapped_column(ForeignKey("ad.id", ondelete="CASCADE"))
    ad_version_id: Mapped[int | None] = mapped_column(ForeignKey("ad_version.id", ondelete="CASCADE"))
    model_version: Mapped[str] = mapped_column(String(100))
    risk: Mapped[float] = mapped_column(Float)
    band: Mapped[str] = mapped_column(String(10))
    lang: Mapped[str | None] = mapped_column(String(8))
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    explanation: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    content_sha256: Mapped[str] = mapped_column(String(64))
    scored_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    ad: Mapped[Ad] = relationship(back_populates="scores")
    hits: Mapped[list[IndicatorHit]] = relationship(back_populates="score", cascade="all, delete-orphan")


class IndicatorHit(Base):
    """One indicator span of a score; ``start``/``end`` are character offsets into ``Ad.text``."""

    __tablename__ = "indicator_hit"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    score_id: Mapped[int] = mapped_column(ForeignKey("score.id", ondelete="CASCADE"), index=True)
    indicator_id: Mapped[str] = mapped_column(String(100))
    category: Mapped[str] = mapped_column(String(50), index=True)
    start: Mapped[int] = mapped_column(Integer)
    end: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    weight: Mapped[float] = mapped_column(Float)

    score: Mapped[Score] = relationship(back_populates="hits")


class Entity(Base):
    """A contact or identifier seen in ads, linked across ads by a keyed HMAC of its value.

    ``value_hmac``: hex HMAC-SHA256 of ``"<type>:<value>"`` under the installation's secret
    (``AppSettings.hmac_key``), so exports can link ads without revealing the value. ``value``:
    the normalised value (E.164 phone, lower-case e-mail); ``None`` once purged. ``masked``: a
    display form that does not reveal the value (``+1******0147``).
    """

    __tablename__ = "entity"
    __table_args__ = (UniqueConstraint("type", "value_hmac", name="uq_entity_type_hmac"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    type: Mapped[str] = mapped_column(String(20))
    value: Mapped[str | None] = mapped_column(String(500))
    value_hmac: Mapped[str] = mapped_column(String(64))
    masked: Mapped[str] = mapped_column(String(500))
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AdEntity(Base):
    """Where an entity occurs in an ad: offsets into ``Ad.text`` and the text as written (a raw contact)."""

    __tablename__ = "ad_entity"
    __table_args__ = (Index("ix_ad_entity_entity", "entity_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ad_id: Mapped[int] = mapped_column(ForeignKey("ad.id", ondelete="CASCADE"), index=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("entity.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(20))
    start: Mapped[int] = mapped_column(Integer)
    end: Mapped[int] = mapped_column(Integer)
    text: Mapped[str | None] = mapped_column(Text)

    ad: Mapped[Ad] = relationship(back_populates="entities")
    entity: Mapped[Entity] = relationship()


class AppUser(Base):
    """A person using the review app (``role``: analyst, supervisor, admin)."""

    __tablename__ = "app_user"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20), default="analyst")
    password_hash: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ReviewItem(Base):
    """An ad in the analysts' queue (one per ad): state, priority and assignee."""

    __tablename__ = "review_item"
    __table_args__ = (Index("ix_review_item_state", "state", "priority"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ad_id: Mapped[int] = mapped_column(ForeignKey("ad.id", ondelete="CASCADE"), unique=True)
    score_id: Mapped[int | None] = mapped_column(ForeignKey("score.id", ondelete="SET NULL"))
    state: Mapped[str] = mapped_column(String(20), default="new")
    priority: Mapped[float] = mapped_column(Float, default=0.0)
    assigned_to: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Decision(Base):
    """An analyst's decision on a review item (``decision``: confirmed, dismissed, escalated, needs_info)."""

    __tablename__ = "decision"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    review_item_id: Mapped[int] = mapped_column(ForeignKey("review_item.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    decision: Mapped[str] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AuditEvent(Base):
    """An audited action: who (``actor``), what (``action``), on what (``target_type``/``target_id``)."""

    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_at", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100))
    target_type: Mapped[str | None] = mapped_column(String(50))
    target_id: Mapped[str | None] = mapped_column(String(200))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ContactNetwork(Base):
    """Ads linked by shared contacts (phone, e-mail, handle), transitively: one connected component.

    Written by ``linking.networks``. ``size``: ads; ``contacts``: distinct linking entities;
    ``sites``/``cities``: sorted distinct values (cities normalised: lower case, the part before the
    first comma); ``first_seen``/``last_seen``: over the ads. ``movement``: one contact appears in at
    least N cities within T days (``AppSettings.linking``); ``movement_detail``: the contact's entity
    id, masked form, cities and date range. ``boost``: what the network adds to the queue priority
    (``linking.risk``).
    """

    __tablename__ = "contact_network"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    size: Mapped[int] = mapped_column(Integer, default=0)
    contacts: Mapped[int] = mapped_column(Integer, default=0)
    sites: Mapped[list[str]] = mapped_column(JSON, default=list)
    cities: Mapped[list[str]] = mapped_column(JSON, default=list)
    first_seen: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    movement: Mapped[bool] = mapped_column(Boolean, default=False)
    movement_detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    boost: Mapped[float] = mapped_column(Float, default=0.0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class TemplateCluster(Base):
    """Near-duplicate ads (one template): MinHash LSH neighbours, transitively. Written by ``linking.templates``.

    ``representative_ad_id``: the member most similar to the others (by estimated Jaccard).
    """

    __tablename__ = "template_cluster"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    size: Mapped[int] = mapped_column(Integer, default=0)
    representative_ad_id: Mapped[int | None] = mapped_column(ForeignKey("ad.id", ondelete="SET NULL"))
    first_seen: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AdLink(Base):
    """An ad's place in the networks and clusters (one row per linked ad).

    ``content_sha256``: the ad content that was linked (a different ``Ad.content_sha256`` means the
    ad changed and is linked again). ``minhash``: the MinHash signature of its text, ``num_perm``
    little-endian uint32 values (datasketch ``affine32`` scheme), from which the LSH index is
    rebuilt. ``network_id``: None for an ad without a linking contact; ``cluster_id``: None for an
    ad with no near-duplicate.
    """

    __tablename__ = "ad_link"

    ad_id: Mapped[int] = mapped_column(ForeignKey("ad.id", ondelete="CASCADE"), primary_key=True)
    content_sha256: Mapped[str] = mapped_column(String(64))
    network_id: Mapped[int | None] = mapped_column(ForeignKey("contact_network.id", ondelete="SET NULL"), index=True)
    cluster_id: Mapped[int | None] = mapped_column(ForeignKey("template_cluster.id", ondelete="SET NULL"), index=True)
    minhash: Mapped[bytes | None] = mapped_column(LargeBinary)
    linked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

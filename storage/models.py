"""SQLAlchemy 2.0 ORM models: crawl runs, ads, scores, indicator hits and entities.

Schema v0 (created with ``create_all``; Alembic migrations arrive with the durable-storage issue).
An ad is unique by its canonical URL; a score is unique per ad and model version.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    """Current time, timezone-aware UTC."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base of every adwatch table."""


class CrawlRun(Base):
    """One crawl of one site (or one start URL).

    ``status``: ``running``, ``finished``, ``failed`` or ``interrupted`` (a run found ``running`` by a
    later process that owns no such crawl). ``stats``: Scrapy's stats plus adwatch's counters.
    """

    __tablename__ = "crawl_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    site: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(20), default="running")
    stats: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Ad(Base):
    """A stored advertisement, unique by ``canonical_url``.

    ``text`` is the exact string that was scored (title, blank line, body); indicator and entity
    offsets point into it. ``review_status`` is the analysts' state: ``new``, ``confirmed``,
    ``dismissed``, ``escalated``, ``needs_info``.
    """

    __tablename__ = "ad"

    id: Mapped[int] = mapped_column(primary_key=True)
    canonical_url: Mapped[str] = mapped_column(String(2000), unique=True)
    url: Mapped[str] = mapped_column(String(2000))
    site: Mapped[str] = mapped_column(String(200), index=True)
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
    source: Mapped[str | None] = mapped_column(String(20))
    content_sha256: Mapped[str] = mapped_column(String(64))
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    fetched_at: Mapped[str | None] = mapped_column(String(40))
    first_run_id: Mapped[int | None] = mapped_column(ForeignKey("crawl_run.id"))
    last_run_id: Mapped[int | None] = mapped_column(ForeignKey("crawl_run.id"))
    status: Mapped[str] = mapped_column(String(20), default="active")
    review_status: Mapped[str] = mapped_column(String(20), default="new")

    scores: Mapped[list[Score]] = relationship(back_populates="ad", cascade="all, delete-orphan")
    entities: Mapped[list[AdEntity]] = relationship(back_populates="ad", cascade="all, delete-orphan")


class Score(Base):
    """The scorer's verdict on an ad for one model version (replaced when the ad's content changes)."""

    __tablename__ = "score"
    __table_args__ = (
        UniqueConstraint("ad_id", "model_version", name="uq_score_ad_model"),
        Index("ix_score_risk", "risk"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ad_id: Mapped[int] = mapped_column(ForeignKey("ad.id", ondelete="CASCADE"))
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

    id: Mapped[int] = mapped_column(primary_key=True)
    score_id: Mapped[int] = mapped_column(ForeignKey("score.id", ondelete="CASCADE"), index=True)
    indicator_id: Mapped[str] = mapped_column(String(100))
    category: Mapped[str] = mapped_column(String(50), index=True)
    start: Mapped[int] = mapped_column(Integer)
    end: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    weight: Mapped[float] = mapped_column(Float)

    score: Mapped[Score] = relationship(back_populates="hits")


class AdEntity(Base):
    """An entity found in an ad (phone in E.164, e-mail, handle, age...). Raw contacts stay in the database."""

    __tablename__ = "ad_entity"
    __table_args__ = (Index("ix_ad_entity_value", "type", "value"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ad_id: Mapped[int] = mapped_column(ForeignKey("ad.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(20))
    value: Mapped[str] = mapped_column(String(500))
    start: Mapped[int] = mapped_column(Integer)
    end: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)

    ad: Mapped[Ad] = relationship(back_populates="entities")

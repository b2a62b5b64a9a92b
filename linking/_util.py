"""Small helpers shared by ``linking.networks`` and ``linking.templates`` (not public)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime
from typing import Any, TypeVar, cast

from sqlalchemy import Table

T = TypeVar("T")

CHUNK = 500
"""Keys per ``IN (...)`` list."""


def chunks(items: Iterable[T], n: int = CHUNK) -> Iterator[list[T]]:
    """``items`` in lists of at most ``n``."""
    buf: list[T] = []
    for it in items:
        buf.append(it)
        if len(buf) >= n:
            yield buf
            buf = []
    if buf:
        yield buf


def sa_table(model: type[Any]) -> Table:
    """The Core table of an ORM class (for executemany updates with ``bindparam``)."""
    return cast(Table, model.__table__)


class UnionFind:
    """Disjoint sets over hashable keys (path halving, union by size)."""

    def __init__(self) -> None:
        self.parent: dict[Any, Any] = {}
        self.size: dict[Any, int] = {}

    def add(self, x: Any) -> None:
        """Make ``x`` a set of its own if it is new."""
        if x not in self.parent:
            self.parent[x] = x
            self.size[x] = 1

    def find(self, x: Any) -> Any:
        """The representative of ``x``'s set (``x`` is added when new)."""
        self.add(x)
        p = self.parent
        while p[x] != x:
            p[x] = p[p[x]]
            x = p[x]
        return x

    def union(self, a: Any, b: Any) -> None:
        """Join the sets of ``a`` and ``b``."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        if self.size[ra] < self.size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.size[ra] += self.size[rb]

    def groups(self) -> list[list[Any]]:
        """Every set as a list of its keys."""
        out: dict[Any, list[Any]] = {}
        for x in self.parent:
            out.setdefault(self.find(x), []).append(x)
        return list(out.values())


def aware(dt: datetime | None) -> datetime | None:
    """``dt`` as timezone-aware UTC (SQLite returns naive datetimes)."""
    if dt is None:
        return None
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def ad_date(posted_date: str | None, first_seen: datetime | None) -> date | None:
    """The date an ad was posted (``posted_date``, ISO) or else first seen."""
    if posted_date:
        try:
            return date.fromisoformat(posted_date[:10])
        except ValueError:
            pass
    return first_seen.date() if first_seen is not None else None


def sorted_set(values: Sequence[str | None]) -> list[str]:
    """Sorted distinct non-empty values."""
    return sorted({v for v in values if v})

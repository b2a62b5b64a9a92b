"""A cron trigger that fires exactly once per matching local wall-clock time, across DST changes.

APScheduler 3.x's ``CronTrigger`` does its arithmetic on aware datetimes and gets DST wrong
(agronholm/apscheduler#529, #120): a daily 00:00 America/Chicago job asked for its next run just
after midnight on the day clocks spring forward skips a whole day, and a daily 02:30 Europe/Berlin
job fires twice on the night clocks fall back (02:30 CEST and again 02:30 CET).

:class:`WallClockCronTrigger` evaluates the cron expression on naive local wall-clock time, where
there is no DST, and only then maps each match to one instant:

* a wall time that occurs twice (autumn) is taken at its first occurrence (``fold=0``);
* a wall time that does not exist (spring gap) is moved forward by the gap (02:30 -> 03:30), so the
  night's run still happens, once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger

_TICK = timedelta(microseconds=1)


class WallClockCronTrigger(BaseTrigger):
    """Cron trigger in a time zone, DST-safe (see the module docstring).

    Args:
        cron: five-field cron expression (``"30 2 * * *"``: 02:30 every day).
        timezone: IANA time-zone name the expression is read in.

    Raises:
        ValueError: the expression or the time zone is invalid (the message names it).
    """

    def __init__(self, cron: str, timezone: str = "UTC") -> None:
        self.cron = cron
        self.timezone = timezone
        self._build()

    def _build(self) -> None:
        try:
            self.tz = ZoneInfo(self.timezone)
        except Exception as exc:
            raise ValueError(f"unknown time zone {self.timezone!r}: {exc}") from exc
        try:
            # wall-clock times are handled as if they were UTC: a zone without DST
            self._wall = CronTrigger.from_crontab(self.cron, timezone=UTC)
        except ValueError as exc:
            raise ValueError(f"invalid cron expression {self.cron!r}: {exc}") from exc

    def _wall_of(self, instant: datetime) -> datetime:
        return instant.astimezone(self.tz).replace(tzinfo=UTC, fold=0)

    def _instant_of(self, wall: datetime) -> datetime:
        local = wall.replace(tzinfo=self.tz, fold=0)
        # round trip through UTC: normalises a nonexistent (gap) wall time forward by the gap
        return local.astimezone(UTC).astimezone(self.tz)

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        """The first instant after ``previous_fire_time`` (if any) whose local wall time matches.

        As APScheduler's ``CronTrigger``: with a previous fire time the search starts just after it
        (so missed runs can be counted), else at ``now``.
        """
        # aware datetimes of one zone compare by wall time (fold ignored): compare in UTC only
        now = now.astimezone(UTC)
        previous_fire_time = previous_fire_time.astimezone(UTC) if previous_fire_time else None
        start = min(now, previous_fire_time + _TICK) if previous_fire_time else now
        wall = self._wall_of(start)
        if previous_fire_time is not None:
            wall = max(wall, self._wall_of(previous_fire_time) + _TICK)
        for _ in range(1000):
            match = self._wall.get_next_fire_time(None, wall)
            if match is None:
                return None
            instant = self._instant_of(match)
            utc = instant.astimezone(UTC)
            if utc >= start and (previous_fire_time is None or utc > previous_fire_time):
                return instant
            wall = match + _TICK
        return None  # pragma: no cover - a cron expression always matches within 1000 tries

    def __getstate__(self) -> dict[str, Any]:
        return {"version": 1, "cron": self.cron, "timezone": self.timezone}

    def __setstate__(self, state: dict[str, Any]) -> None:
        if state.get("version", 1) > 1:
            raise ValueError(f"cannot restore WallClockCronTrigger state version {state['version']}")
        self.cron = state["cron"]
        self.timezone = state["timezone"]
        self._build()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WallClockCronTrigger) and (self.cron, self.timezone) == (other.cron, other.timezone)

    def __hash__(self) -> int:
        return hash((self.cron, self.timezone))

    def __str__(self) -> str:
        return f"cron[{self.cron}] {self.timezone}"

    def __repr__(self) -> str:
        return f"<WallClockCronTrigger cron={self.cron!r} timezone={self.timezone!r}>"

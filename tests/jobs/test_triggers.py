"""DST: a nightly job runs exactly once per local night (case schedule-01, apscheduler#529, #120)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.cron import CronTrigger

from jobs.triggers import WallClockCronTrigger

CASE = json.loads((Path(__file__).parent / "cases" / "schedule-01-dst.json").read_text(encoding="utf-8"))


def daily(spec: str) -> str:
    """``"daily 02:30"`` -> ``"30 2 * * *"``."""
    hh, mm = spec.removeprefix("daily ").split(":")
    return f"{int(mm)} {int(hh)} * * *"


def utc(dt: datetime) -> datetime:
    return dt.astimezone(ZoneInfo("UTC"))


def fire_times(trigger, start: datetime, end: datetime) -> list[datetime]:
    """Fire times in [start, end) as the scheduler walks them (each computed from the previous)."""
    out, prev, now = [], None, start
    for _ in range(100):
        nxt = trigger.get_next_fire_time(prev, now)
        # compare in UTC: aware datetimes of one zone compare by wall time, ignoring DST fold
        if nxt is None or utc(nxt) >= utc(end) or (prev is not None and utc(nxt) <= utc(prev)):
            return out
        out.append(nxt)
        prev, now = nxt, nxt + timedelta(seconds=1)
    return out


def test_case_a_next_run_after_midnight_on_spring_forward_day():
    a = CASE["input"]["a"]
    trigger = WallClockCronTrigger(daily(a["cron"]), a["timezone"])
    nxt = trigger.get_next_fire_time(None, datetime.fromisoformat(a["after"]))
    assert nxt == datetime.fromisoformat(CASE["expected"]["a"]["next_run"])
    assert nxt.isoformat() == "2021-03-15T00:00:00-05:00"


def test_case_b_one_run_on_the_autumn_night_with_a_repeated_hour():
    b = CASE["input"]["b"]
    tz = ZoneInfo(b["timezone"])
    trigger = WallClockCronTrigger(daily(b["cron"]), b["timezone"])
    day = datetime.fromisoformat(b["day"]).replace(tzinfo=tz)
    runs = fire_times(trigger, day - timedelta(days=1), day + timedelta(days=2))
    on_day = [r for r in runs if r.astimezone(tz).date() == day.date()]
    assert len(on_day) == CASE["expected"]["b"]["runs_that_day"] == 1
    assert on_day[0].isoformat() == "2016-10-30T02:30:00+02:00"  # the first 02:30 (CEST)
    assert [r.astimezone(tz).date().day for r in runs] == [29, 30, 31]


def test_the_stock_cron_trigger_has_the_fault_this_trigger_fixes():
    """Guard: if APScheduler fixes these, WallClockCronTrigger can be dropped."""
    a, b = CASE["input"]["a"], CASE["input"]["b"]
    stock_a = CronTrigger.from_crontab(daily(a["cron"]), timezone=a["timezone"])
    assert stock_a.get_next_fire_time(None, datetime.fromisoformat(a["after"])).day == 16
    stock_b = CronTrigger.from_crontab(daily(b["cron"]), timezone=b["timezone"])
    tz = ZoneInfo(b["timezone"])
    day = datetime.fromisoformat(b["day"]).replace(tzinfo=tz)
    assert len([r for r in fire_times(stock_b, day - timedelta(hours=1), day + timedelta(days=1))]) == 2


@pytest.mark.parametrize(("tz", "spring", "autumn"), [
    ("America/Chicago", "2021-03-14", "2021-11-07"),
    ("Europe/Berlin", "2016-03-27", "2016-10-30"),
    ("Australia/Lord_Howe", "2021-10-03", "2021-04-04"),  # 30-minute DST shift
])
@pytest.mark.parametrize("hhmm", ["00:00", "01:30", "02:00", "02:30", "03:00", "23:59"])
def test_every_nightly_time_runs_exactly_once_per_local_day_across_both_changes(tz, spring, autumn, hhmm):
    zone = ZoneInfo(tz)
    trigger = WallClockCronTrigger(daily(f"daily {hhmm}"), tz)
    for day in (spring, autumn):
        d = datetime.fromisoformat(day).replace(tzinfo=zone)
        runs = fire_times(trigger, d - timedelta(days=3), d + timedelta(days=4))
        days = [r.astimezone(zone).date() for r in runs]
        assert days == sorted(set(days)), f"{tz} {hhmm} around {day}: {runs}"
        assert len(days) == 7, f"{tz} {hhmm} around {day}: {runs}"


def test_nonexistent_time_runs_after_the_gap_and_state_round_trips():
    trigger = WallClockCronTrigger("30 2 * * *", "Europe/Berlin")
    nxt = trigger.get_next_fire_time(None, datetime.fromisoformat("2016-03-27T00:00:00+01:00"))
    assert nxt.isoformat() == "2016-03-27T03:30:00+02:00"
    clone = WallClockCronTrigger.__new__(WallClockCronTrigger)
    clone.__setstate__(trigger.__getstate__())
    assert clone == trigger and str(clone) == "cron[30 2 * * *] Europe/Berlin"


def test_bad_cron_or_zone_is_a_clear_error():
    with pytest.raises(ValueError, match="invalid cron expression"):
        WallClockCronTrigger("61 2 * * *", "UTC")
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Base'"):
        WallClockCronTrigger("0 2 * * *", "Mars/Base")

"""Spidermon monitors of an adwatch crawl: minimum items, error rate, finish reason, item validation.

Spidermon (scrapinghub/spidermon 1.27, checked on Scrapy 2.19) runs :class:`CrawlMonitorSuite`
when the spider closes; :class:`RecordMonitorResultsAction` writes each monitor's outcome into the
crawl's stats before ``StoreAdPipeline`` saves them on the crawl run:

* ``adwatch/monitors/<monitor>``: ``"passed"``, ``"failed: <reason>"`` or ``"skipped: <reason>"``
  (spidermon skips the item-validation monitor when no item had an error: that is a pass);
* ``adwatch/monitors/failed``: how many failed (0 when all passed);
* ``adwatch/monitors/ok``: True when all passed.

``adwatch crawl`` (``cli.crawling.crawl``) exits non-zero when ``adwatch/monitors/ok`` is False.

Settings (``crawler/settings.py``): ``SPIDERMON_ENABLED``, ``SPIDERMON_MIN_ITEMS`` (default 1),
``SPIDERMON_EXPECTED_FINISH_REASONS``, ``SPIDERMON_MAX_ITEM_VALIDATION_ERRORS`` (default 0),
``ADWATCH_MONITOR_MAX_ERROR_RATE`` (default 0.5) and ``SPIDERMON_VALIDATION_SCHEMAS`` (the
:data:`AD_ITEM_SCHEMA` below, applied to :class:`crawler.items.AdItem` only by spidermon's
``ItemValidationPipeline``).
"""

from __future__ import annotations

from typing import Any

from spidermon import Monitor, MonitorSuite, monitors  # type: ignore[import-untyped]
from spidermon.contrib.scrapy.monitors import (  # type: ignore[import-untyped]
    FinishReasonMonitor,
    ItemCountMonitor,
    ItemValidationMonitor,
)
from spidermon.core.actions import Action  # type: ignore[import-untyped]

__all__ = ["AD_ITEM_SCHEMA", "CrawlMonitorSuite", "ErrorRateMonitor", "RecordMonitorResultsAction", "error_rate"]

_TEXT = {"type": ["string", "null"]}
_NUMBER = {"type": ["number", "null"]}

AD_ITEM_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "AdItem",
    "description": "An ad as the crawler hands it to storage (crawler.items.AdItem, after NormalizeAdPipeline).",
    "type": "object",
    "required": ["url", "canonical_url", "site", "ad_type", "content_sha256"],
    "properties": {
        "url": {"type": "string", "pattern": "^https?://"},
        "canonical_url": {"type": "string", "pattern": "^https?://"},
        "site": {"type": "string", "minLength": 1},
        "ad_type": {"enum": ["job", "escort", "other"]},
        "title": _TEXT,
        "body": _TEXT,
        "employer": _TEXT,
        "location_raw": _TEXT,
        "salary_raw": _TEXT,
        "salary_min": _NUMBER,
        "salary_max": _NUMBER,
        "salary_currency": {"type": ["string", "null"], "pattern": "^[A-Z]{3}$"},
        "salary_period": _TEXT,
        "posted_raw": _TEXT,
        "posted_date": _TEXT,
        "valid_through": _TEXT,
        "contact_raw": _TEXT,
        "fetched_at": _TEXT,
        "content_sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "source": {"enum": ["jsonld", "html", None]},
        "http_status": {"type": ["integer", "null"], "minimum": 100, "maximum": 599},
    },
    "anyOf": [
        {"required": ["title"], "properties": {"title": {"type": "string", "minLength": 1}}},
        {"required": ["body"], "properties": {"body": {"type": "string", "minLength": 1}}},
    ],
}
"""JSON Schema (draft 2020-12) of a stored :class:`crawler.items.AdItem`: URLs, site, ad type and
content hash present, a title or a body, ISO 4217 currency, HTTP status in range."""


PAGE_OUTCOMES = ("adwatch/pages/listing", "adwatch/pages/detail", "adwatch/pages/not_text",
                 "adwatch/pages/not_modified", "adwatch/pages/gone")
"""Stats counting the responses that reached a ``ProfileSpider`` callback (each counted once)."""


def error_rate(stats: dict[str, Any]) -> float:
    """Share of pages that failed: ``failed / (handled + failed)``.

    Args:
        stats: Scrapy stats with ``adwatch/failed/total`` (requests that ended without a usable
            response after retries, counted by ``ProfileSpider.on_error``), ``spider_exceptions/count``
            and the :data:`PAGE_OUTCOMES` counters (responses a callback handled).

    Returns:
        A rate in [0, 1]; 0.0 when nothing was attempted.
    """
    failed = int(stats.get("adwatch/failed/total", 0)) + int(stats.get("spider_exceptions/count", 0))
    handled = sum(int(stats.get(key, 0)) for key in PAGE_OUTCOMES)
    attempted = handled + int(stats.get("adwatch/failed/total", 0))
    return min(1.0, failed / attempted) if attempted else 0.0


@monitors.name("Error rate")
class ErrorRateMonitor(Monitor):
    """Fail when :func:`error_rate` exceeds ``ADWATCH_MONITOR_MAX_ERROR_RATE`` (default 0.5: more
    failed than good pages means the site or the crawl is broken; an adwatch choice, not a standard)."""

    @monitors.name("Error rate is at most ADWATCH_MONITOR_MAX_ERROR_RATE")
    def test_error_rate(self) -> None:
        """The crawl's error rate is within the limit."""
        limit = self.data.crawler.settings.getfloat("ADWATCH_MONITOR_MAX_ERROR_RATE", 0.5)
        rate = error_rate(self.data.stats)
        self.assertLessEqual(rate, limit, msg=f"error rate {rate:.2f} > {limit:.2f}")


class RecordMonitorResultsAction(Action):
    """Write every monitor's outcome into the crawl's stats (see the module docstring)."""

    def run_action(self) -> None:
        """Set ``adwatch/monitors/...`` stats from ``self.result``."""
        stats = self.data.crawler.stats
        failed = 0
        for result in self.result.monitor_results:
            name = result.monitor.name
            lines = [ln.strip() for ln in str(result.reason or result.error or "").splitlines() if ln.strip()]
            reason = (lines[-1] if lines else result.status)[:300]
            if result.status in ("FAIL", "ERROR", "UNEXPECTED SUCCESS"):
                failed += 1
                stats.set_value(f"adwatch/monitors/{name}", f"failed: {reason}")
            elif result.status == "SKIPPED":  # e.g. item validation with no error stat: nothing failed
                stats.set_value(f"adwatch/monitors/{name}", f"skipped: {reason}")
            else:
                stats.set_value(f"adwatch/monitors/{name}", "passed")
        stats.set_value("adwatch/monitors/failed", failed)
        stats.set_value("adwatch/monitors/ok", failed == 0)


def failed_monitors(stats: dict[str, Any]) -> dict[str, str]:
    """The monitors that failed in a crawl's stats (``{name: "failed: <reason>"}``; empty when all
    passed or the monitors did not run), read from the ``adwatch/monitors/<name>`` values that
    :class:`RecordMonitorResultsAction` wrote."""
    prefix = "adwatch/monitors/"
    return {
        key[len(prefix):]: str(value) for key, value in stats.items()
        if key.startswith(prefix) and isinstance(value, str) and value.startswith("failed")
    }


class CrawlMonitorSuite(MonitorSuite):
    """The monitors run when an adwatch crawl closes (``SPIDERMON_SPIDER_CLOSE_MONITORS``)."""

    monitors = [ItemCountMonitor, ErrorRateMonitor, FinishReasonMonitor, ItemValidationMonitor]  # noqa: RUF012 - spidermon's API
    monitors_finished_actions = [RecordMonitorResultsAction]  # noqa: RUF012

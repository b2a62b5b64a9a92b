"""``warc``: run archived responses (WARC files) through adwatch's extraction, scoring and storage."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import scrapy

from crawler.spiders.base import DETAIL_META, ProfileSpider
from crawler.warc import iter_warc_responses


class WarcSpider(ProfileSpider):
    """Read WARC files and parse every archived HTTP response as an ad detail page.

    Each response record becomes a request answered from the archive by
    :class:`crawler.warc.WarcReplayDownloaderMiddleware` (nothing is fetched), then goes through
    :meth:`ProfileSpider.parse_detail` (JSON-LD first, then the profile's ``[fields]``) and the same
    pipelines as a crawl: normalise, dedupe, score, validate, store, on a crawl run of its own.

    Spider arguments:
        profile: the site profile whose selectors fit the archived pages (a JSON-LD-only profile
            works for job boards with ``JobPosting`` markup).
        warc_files: WARC paths, a list or one comma-separated string.

    Stats: ``adwatch/warc/records_read``, ``adwatch/warc/replayed``.
    """

    name = "warc"

    def __init__(self, profile: Any = None, warc_files: list[str] | str = (), **kwargs: Any) -> None:  # type: ignore[assignment]
        kwargs.setdefault("base_url", "http://warc.invalid")  # relative start URLs are not used
        super().__init__(profile=profile, **kwargs)
        self.allowed_domains = []  # archived pages may come from any host; nothing is fetched
        files = warc_files.split(",") if isinstance(warc_files, str) else list(warc_files)
        self.warc_files = [Path(f) for f in files if str(f).strip()]
        if not self.warc_files:
            raise ValueError("spider 'warc' needs warc_files (-a warc_files=a.warc.gz,b.warc.gz)")
        self.max_pages = 0

    async def start(self) -> AsyncIterator[Any]:
        """One replayed request per archived HTTP response, in file order (duplicates not filtered)."""
        for path in self.warc_files:
            for url, status, headers, body, _date in iter_warc_responses(path):
                self.crawler.stats.inc_value("adwatch/warc/records_read")
                meta = {**DETAIL_META, "adwatch_warc": (status, headers, body)}
                meta["handle_httpstatus_all"] = True
                yield scrapy.Request(url, callback=self.parse_detail, meta=meta, dont_filter=True,
                                     errback=self.on_error)

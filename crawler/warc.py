"""Evidence WARC files: the HTTP responses of flagged ads, written with warcio (issue 6, WARC out).

:class:`WarcEvidenceExtension` listens to Scrapy's ``item_scraped`` signal, which fires after every
pipeline (so the ad has its score) with the response the ad came from. For each ad whose band is at
least ``ADWATCH_WARC_MIN_BAND`` it appends a WARC/1.1 ``response`` record to
``<ADWATCH_WARC_OUT>/<site>-<UTC start time>.warc.gz`` (one gzip member per record) carrying:

* ``WARC-Target-URI``: the fetched URL; ``WARC-Date``: when adwatch fetched it (UTC, microseconds);
* ``WARC-Payload-Digest``: ``sha256:<base32>`` of the body (WARC 1.1 section 5.9 allows any
  algorithm label), and ``WARC-Block-Digest`` (warcio's SHA-1 over headers and body);
* ``X-Adwatch-Payload-SHA256`` (the same SHA-256 in hex, for grep), ``X-Adwatch-Canonical-URL``,
  ``X-Adwatch-Site``, ``X-Adwatch-Risk``, ``X-Adwatch-Band`` and ``X-Adwatch-Content-SHA256`` (the
  ad's content hash as stored).

The body is the one Scrapy handed to the spider: already decompressed, so ``Content-Encoding``,
``Content-Length`` and ``Transfer-Encoding`` are left out of the recorded HTTP headers.
Counters: ``adwatch/warc/records``; the file path is ``adwatch/warc/file``.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from http import HTTPStatus
from io import BytesIO
from pathlib import Path
from typing import IO, Any

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured

__all__ = ["BANDS", "WarcEvidenceExtension", "sha256_base32"]

BANDS = ("low", "medium", "high")
"""Risk bands in increasing order (``scoring.types.Score.band``)."""

_DROPPED_HEADERS = {"content-encoding", "content-length", "transfer-encoding"}


def sha256_base32(data: bytes) -> str:
    """``sha256:`` + the RFC 4648 base32 of the SHA-256 of ``data`` (a WARC digest value)."""
    return "sha256:" + base64.b32encode(hashlib.sha256(data).digest()).decode("ascii")


class WarcEvidenceExtension:
    """Write the responses of flagged ads to a gzipped WARC file (see the module docstring).

    Settings: ``ADWATCH_WARC_OUT`` (folder; unset = off), ``ADWATCH_WARC_MIN_BAND`` (``medium``).

    Raises:
        NotConfigured: ``ADWATCH_WARC_OUT`` is not set.
        ValueError: ``ADWATCH_WARC_MIN_BAND`` is not one of :data:`BANDS`.
    """

    def __init__(self, crawler: Crawler, folder: Path, min_band: str) -> None:
        if min_band not in BANDS:
            raise ValueError(f"ADWATCH_WARC_MIN_BAND must be one of {BANDS}, got {min_band!r}")
        self.crawler = crawler
        self.folder = folder
        self.min_rank = BANDS.index(min_band)
        self.path: Path | None = None
        self._file: IO[bytes] | None = None
        self._writer: Any = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> WarcEvidenceExtension:
        """Build from the crawler and connect ``item_scraped`` and ``spider_closed``."""
        out = crawler.settings.get("ADWATCH_WARC_OUT")
        if not out:
            raise NotConfigured  # no ADWATCH_WARC_OUT: evidence WARC not requested
        ext = cls(crawler, Path(out), crawler.settings.get("ADWATCH_WARC_MIN_BAND") or "medium")
        crawler.signals.connect(ext.item_scraped, signal=signals.item_scraped)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def _open(self, site: str) -> Any:
        from warcio.warcwriter import WARCWriter  # type: ignore[import-untyped]

        self.folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        self.path = self.folder / f"{site}-{stamp}.warc.gz"
        self._file = self.path.open("wb")
        self._writer = WARCWriter(self._file, gzip=True, warc_version="1.1")
        self.crawler.stats.set_value("adwatch/warc/file", str(self.path))
        return self._writer

    def item_scraped(self, item: Any, response: Any, spider: Any) -> None:
        """Append the response of ``item`` when its band is high enough (other items are ignored)."""
        score = getattr(item, "score", None)
        band = getattr(score, "band", None)
        if response is None or band not in BANDS or BANDS.index(band) < self.min_rank:
            return
        from warcio.statusandheaders import StatusAndHeaders  # type: ignore[import-untyped]

        writer = self._writer or self._open(str(getattr(item, "site", None) or getattr(spider, "name", "crawl")))
        body = bytes(response.body)
        try:
            reason = HTTPStatus(response.status).phrase
        except ValueError:
            reason = ""
        headers = [
            (key.decode("latin-1"), value.decode("latin-1"))
            for key, values in response.headers.items()
            for value in values
            if key.decode("latin-1").lower() not in _DROPPED_HEADERS
        ]
        http_headers = StatusAndHeaders(f"{response.status} {reason}".strip(), headers, protocol="HTTP/1.1")
        fetched = getattr(item, "fetched_at", None)
        try:
            when = datetime.fromisoformat(fetched) if fetched else datetime.now(UTC)
        except ValueError:
            when = datetime.now(UTC)
        warc_date = when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        extra = {
            "WARC-Date": warc_date,
            "WARC-Payload-Digest": sha256_base32(body),
            "X-Adwatch-Payload-SHA256": hashlib.sha256(body).hexdigest(),
            "X-Adwatch-Canonical-URL": str(getattr(item, "canonical_url", "") or ""),
            "X-Adwatch-Site": str(getattr(item, "site", "") or ""),
            "X-Adwatch-Risk": f"{getattr(score, 'risk', 0.0):.4f}",
            "X-Adwatch-Band": band,
            "X-Adwatch-Content-SHA256": str(getattr(item, "content_sha256", "") or ""),
        }
        record = writer.create_warc_record(
            response.url, "response", payload=BytesIO(body), length=len(body),
            http_headers=http_headers, warc_headers_dict=extra,
        )
        writer.write_record(record)
        self.crawler.stats.inc_value("adwatch/warc/records")

    def spider_closed(self, spider: Any, reason: str) -> None:
        """Close the WARC file."""
        if self._file is not None:
            self._file.close()
            self._file = None
            self._writer = None


# -- WARC in -------------------------------------------------------------------------------------
def iter_warc_responses(path: str | Path) -> Any:
    """Yield ``(url, status, headers, body, warc_date)`` for each HTTP ``response`` record of a WARC.

    Args:
        path: a ``.warc`` or ``.warc.gz`` file (any WARC 1.0/1.1 writer; warcio reads both).

    Yields:
        The target URI, the HTTP status (int), the HTTP headers as ``[(name, value)]`` without
        ``Content-Encoding``/``Content-Length``/``Transfer-Encoding`` (the body is yielded decoded),
        the body bytes and the record's ``WARC-Date`` string. Records that are not HTTP responses
        (requests, metadata, revisits, DNS) are skipped.

    Raises:
        OSError: the file cannot be read. warcio's ``ArchiveLoadFailed``: it is not a WARC.
    """
    from warcio.archiveiterator import ArchiveIterator  # type: ignore[import-untyped]

    with Path(path).open("rb") as fh:
        for record in ArchiveIterator(fh):
            if record.rec_type != "response" or record.http_headers is None:
                continue
            url = record.rec_headers.get_header("WARC-Target-URI")
            if not url or not url.startswith(("http://", "https://")):
                continue
            try:
                status = int(record.http_headers.get_statuscode())
            except (TypeError, ValueError):
                continue
            headers = [(k, v) for k, v in record.http_headers.headers if k.lower() not in _DROPPED_HEADERS]
            body = record.content_stream().read()
            yield url, status, headers, body, record.rec_headers.get_header("WARC-Date")


class WarcReplayDownloaderMiddleware:
    """Answer a request carrying ``meta["adwatch_warc"] = (status, headers, body)`` with that archived
    response instead of the network (``adwatch ingest-warc``; see ``crawler.spiders.warc``).

    It sits before ``RobotsTxtMiddleware`` (100), so replayed URLs never fetch robots.txt: nothing
    goes on the network. Other requests pass untouched. Counter: ``adwatch/warc/replayed``.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.stats = crawler.stats

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> WarcReplayDownloaderMiddleware:
        """Build the middleware."""
        return cls(crawler)

    def process_request(self, request: Any, spider: Any = None) -> Any:
        """The archived response for a replayed request, else None."""
        archived = request.meta.get("adwatch_warc")
        if archived is None:
            return None
        from scrapy.http import Headers
        from scrapy.responsetypes import responsetypes

        status, headers, body = archived
        hdrs = Headers(headers)
        cls = responsetypes.from_args(headers=hdrs, url=request.url, body=body)
        self.stats.inc_value("adwatch/warc/replayed")
        return cls(url=request.url, status=status, headers=hdrs, body=body, request=request)

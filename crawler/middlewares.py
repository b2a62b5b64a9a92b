"""Downloader middlewares."""

from __future__ import annotations

from pathlib import PurePosixPath
from urllib.parse import urlsplit

from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.http import Response

MEDIA_EXTENSIONS = frozenset(
    ".jpg .jpeg .png .gif .webp .bmp .tif .tiff .svg .ico .heic .avif "
    ".mp4 .m4v .mov .avi .wmv .flv .webm .mkv .3gp .mpg .mpeg "
    ".mp3 .m4a .wav .ogg .oga .flac .aac .wma".split()
)
"""File extensions of images, video and audio (dropped before download)."""

MEDIA_TYPE_PREFIXES = ("image/", "video/", "audio/")


class DropMediaDownloaderMiddleware:
    """Drop image, video and audio requests (by extension) and responses (by Content-Type).

    Safety by design: analysts must never be exposed to abusive images, so adwatch downloads no
    media unless ``ADWATCH_MEDIA_ENABLED`` is true (a site profile may enable it). Drops are counted
    in the stats as ``adwatch/media_dropped/request`` and ``adwatch/media_dropped/response``.

    Raises:
        NotConfigured: media downloads are enabled, so this middleware is not needed.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.stats = crawler.stats

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> "DropMediaDownloaderMiddleware":
        """Build from the crawler; raises NotConfigured when ``ADWATCH_MEDIA_ENABLED`` is true."""
        if crawler.settings.getbool("ADWATCH_MEDIA_ENABLED"):
            raise NotConfigured("media downloads enabled")
        return cls(crawler)

    def process_request(self, request: Request, spider: Spider | None = None) -> None:
        """Ignore a request whose URL path ends in a media extension."""
        suffix = PurePosixPath(urlsplit(request.url).path).suffix.lower()
        if suffix in MEDIA_EXTENSIONS:
            self.stats.inc_value("adwatch/media_dropped/request")
            raise IgnoreRequest(f"media not downloaded: {request.url}")

    def process_response(self, request: Request, response: Response, spider: Spider | None = None) -> Response:
        """Ignore a response whose Content-Type is image, video or audio."""
        ctype = (response.headers.get(b"Content-Type") or b"").decode("latin-1").lower()
        if ctype.startswith(MEDIA_TYPE_PREFIXES):
            self.stats.inc_value("adwatch/media_dropped/response")
            raise IgnoreRequest(f"media not kept ({ctype}): {request.url}")
        return response

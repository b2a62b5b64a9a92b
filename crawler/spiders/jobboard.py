"""``jobboard``: generic job-board Spider (listing -> detail, JSON-LD ``JobPosting`` wherever present)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from scrapy.http import Response
from scrapy.linkextractors import LinkExtractor

from crawler.spiders.base import ProfileSpider


class JobBoardSpider(ProfileSpider):
    """Crawl a job board from its site profile.

    With listing selectors in the profile it follows listing -> detail. Without them (an ad-hoc
    ``adwatch crawl --start-url URL``) it discovers: every fetched page of the start URL's domain is
    read for JSON-LD ``JobPosting`` objects, and its same-domain links are followed until
    ``max_pages``.
    """

    name = "jobboard"

    def _discovery(self) -> bool:
        links = self.profile.links
        return links is None or not (links.detail or links.next)

    def parse(self, response: Response, **kwargs: Any) -> Iterator[Any]:
        """Listing page (profile mode) or any page (discovery mode)."""
        if not self._discovery():
            yield from super().parse(response, **kwargs)
            return
        page = self._text(response)
        if page is None:
            return
        yield from self.parse_detail(page)
        for link in LinkExtractor().extract_links(page):
            if self._same_site(link.url):
                yield from self._follow(page, link.url, self.parse)

    def _same_site(self, url: str) -> bool:
        """True when ``url``'s host is an allowed domain or a subdomain of one (ports ignored)."""
        host = (urlsplit(url).hostname or "").lower()
        return any(host == d or host.endswith("." + d) for d in self.allowed_domains)

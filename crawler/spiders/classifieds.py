"""``classifieds``: generic classified-ad Spider (listing -> detail with the profile's selectors)."""

from __future__ import annotations

from crawler.spiders.base import ProfileSpider


class ClassifiedsSpider(ProfileSpider):
    """Crawl a classifieds site (escort or other sections) from its site profile.

    Listing pages give detail links and the next page; detail fields come from the profile's CSS
    selectors (JSON-LD is still read first where a site has it).
    """

    name = "classifieds"

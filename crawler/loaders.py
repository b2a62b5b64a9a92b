"""Item loader for :class:`crawler.items.AdItem`: cleans whatever a selector or JSON-LD gives.

Input processors turn HTML (including HTML-escaped HTML from JSON-LD) into clean text with
``crawler.text.html_to_text``; output processors pick or join values.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from itemloaders.processors import Identity, Join, MapCompose, TakeFirst
from scrapy.loader import ItemLoader

from crawler.items import AdItem
from crawler.salary import salary_raw_text
from crawler.text import clean_inline, html_to_text

__all__ = ["AdLoader", "body_text", "inline_text", "plain_strip"]

_TAGS = re.compile(r"<[^>]*>")


def inline_text(value: Any) -> str | None:
    """Input processor for one-line fields: text or HTML -> one line of clean text; blank -> dropped."""
    if value is None:
        return None
    if not isinstance(value, str):
        value = str(value)
    return clean_inline(value)


def body_text(value: Any) -> str | None:
    """Input processor for the body: HTML (or escaped HTML, or plain text) -> text with paragraphs."""
    if value is None:
        return None
    if not isinstance(value, str):
        value = str(value)
    return html_to_text(value) or None


def plain_strip(value: Any) -> str | None:
    """Input processor for URLs and codes: stripped, never HTML-unescaped (``&region=`` stays as is)."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _salary_raw(value: Any) -> str | None:
    if isinstance(value, str):
        return clean_inline(value)
    return salary_raw_text(value)


def _has_text(value: str) -> bool:
    """Cheap test: does a selector result hold any visible characters once tags are removed?"""
    return bool(_TAGS.sub("", value).strip())


class AdLoader(ItemLoader):
    """Loads an :class:`AdItem`.

    * One-line text fields (``title``, ``employer``, ``location_raw``, ``posted_raw``...): input
      ``MapCompose(inline_text)`` (HTML to text, whitespace collapsed, blanks dropped), output
      ``TakeFirst()``.
    * ``body``: input ``MapCompose(body_text)`` (paragraphs kept), output ``Join("\\n\\n")`` (several
      matched elements become paragraphs of one body).
    * ``contact_raw``: output ``Join("\\n")`` (every contact value kept).
    * ``salary_raw``: text cleaned, JSON-LD ``MonetaryAmount`` dicts kept as compact JSON.
    * URLs and codes (``url``, ``canonical_url``, ``site``, ``ad_type``, ``source``...): only stripped.
    * numbers (``salary_min``, ``salary_max``, ``http_status``): passed through unchanged.

    Build it with ``AdLoader(selector=Selector(text=html))`` for CSS fields, or with no selector
    to load values only (JSON-LD).
    """

    default_item_class = AdItem
    default_input_processor = MapCompose(inline_text)
    default_output_processor = TakeFirst()

    url_in = MapCompose(plain_strip)
    canonical_url_in = MapCompose(plain_strip)
    site_in = MapCompose(plain_strip)
    ad_type_in = MapCompose(plain_strip)
    source_in = MapCompose(plain_strip)
    fetched_at_in = MapCompose(plain_strip)
    content_sha256_in = MapCompose(plain_strip)
    body_in = MapCompose(body_text)
    body_out = Join("\n\n")
    contact_raw_out = Join("\n")
    salary_raw_in = MapCompose(_salary_raw)
    salary_min_in = Identity()
    salary_max_in = Identity()
    http_status_in = Identity()

    def add_first_css(self, field_name: str, selectors: Iterable[str]) -> str | None:
        """Add the results of the first selector in ``selectors`` that yields visible text.

        Args:
            field_name: an :class:`AdItem` field.
            selectors: CSS selectors (parsel syntax, ``::text``/``::attr()`` allowed), in priority order.

        Returns:
            The selector used, or ``None`` if none matched anything non-blank.
        """
        if self.selector is None:
            raise RuntimeError("AdLoader.add_first_css needs a loader built with selector=...")
        for css in selectors:
            values = self.selector.css(css).getall()
            if any(_has_text(v) for v in values):
                self.add_value(field_name, values)
                return css
        return None

    def matches_any(self, selectors: Iterable[str]) -> str | None:
        """The first selector in ``selectors`` that matches at least one node, or ``None``."""
        if self.selector is None:
            return None
        for css in selectors:
            if self.selector.css(css):
                return css
        return None

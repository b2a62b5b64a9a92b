"""schema.org JobPosting extraction from JSON-LD, robust to the blocks real sites ship.

extruct 0.18 (``syntaxes=["json-ld"]``) is tried first; it raises on the whole page when any one
block is malformed (scrapinghub/extruct#109; wikimedia/html-metadata#79), so on any error every
``<script type="application/ld+json">`` block is parsed on its own, after stripping the usual junk:
HTML comment wrappers ``<!-- ... -->``, ``//<![CDATA[ ... //]]>`` and ``/*<![CDATA[*/`` wrappers,
trailing ``;``, several JSON values in one block, JS comments and trailing commas, raw control
characters in strings, HTML-escaped JSON (``&quot;``), text before the first ``{``/``[`` or after
the last ``}``/``]``. A block that is still broken after that is counted, never raised.

Postings are then found anywhere in the parsed data: top-level arrays, ``@graph`` containers
(extruct leaves them wrapped: microlinkhq/metascraper#233, scrapinghub/extruct#34) and nested
objects (``WebPage.mainEntity``...); ``@type`` may be a string, a list or a full IRI.
"""

from __future__ import annotations

import html as html_lib
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

from parsel import Selector

try:  # installed with extruct; tolerates JS comments and trailing commas
    import jstyleson
except ImportError:  # pragma: no cover
    jstyleson = None

__all__ = ["extract_job_postings", "is_job_posting", "iter_jsonld_blocks", "parse_jsonld_block"]

logger = logging.getLogger(__name__)

JOB_POSTING_TYPES = frozenset({"jobposting"})

_LDJSON_XPATH = (
    "//script[contains(translate(@type, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'),"
    " 'ld+json')]"
)
_WRAPPER_PREFIX = re.compile(
    r"^\s*(?:<!--|//\s*<!\[CDATA\[|/\*\s*<!\[CDATA\[\s*\*/|<!\[CDATA\[|//\s*<!--|/\*\s*<!--\s*\*/)\s*"
)
_WRAPPER_SUFFIX = re.compile(r"\s*(?:-->|//\s*\]\]>|/\*\s*\]\]>\s*\*/|\]\]>|//\s*-->|/\*\s*-->\s*\*/)\s*$")
_SEPARATOR = re.compile(r"[\s,;]*")
_DECODER = json.JSONDecoder(strict=False)


def _strip_wrappers(text: str) -> str:
    """Remove comment/CDATA wrappers (repeatedly: ``//<![CDATA[`` inside ``<!--``) and trailing ``;``."""
    previous = None
    text = text.strip().lstrip("\ufeff")
    while text != previous:
        previous = text
        text = _WRAPPER_PREFIX.sub("", text)
        text = _WRAPPER_SUFFIX.sub("", text)
        text = text.strip().rstrip(";").strip()
    return text


def _decode_sequence(text: str) -> list[Any] | None:
    """Decode one or more JSON values separated by whitespace, commas or semicolons."""
    values: list[Any] = []
    pos = _SEPARATOR.match(text, 0).end()  # type: ignore[union-attr]
    while pos < len(text):
        try:
            value, pos = _DECODER.raw_decode(text, pos)
        except json.JSONDecodeError:
            return None
        values.append(value)
        pos = _SEPARATOR.match(text, pos).end()  # type: ignore[union-attr]
    return values or None


def _attempts(text: str) -> Iterator[str]:
    yield text
    if "&quot;" in text and '"' not in text:
        yield html_lib.unescape(text)
    starts = [i for i in (text.find("{"), text.find("[")) if i >= 0]
    ends = [i for i in (text.rfind("}"), text.rfind("]")) if i >= 0]
    if starts and ends:
        start, end = min(starts), max(ends)
        if end > start and (start > 0 or end < len(text) - 1):
            yield text[start : end + 1]


def parse_jsonld_block(text: str) -> list[Any] | None:
    """Parse the text of one JSON-LD ``<script>`` block, cleaning it as needed.

    Args:
        text: the script element's text.

    Returns:
        The JSON values the block holds (usually one), or ``None`` if it cannot be parsed even
        after cleaning. An empty block gives ``[]``.
    """
    cleaned = _strip_wrappers(text)
    if not cleaned:
        return []
    for candidate in _attempts(cleaned):
        try:
            return [json.loads(candidate, strict=False)]
        except ValueError:
            pass
        values = _decode_sequence(candidate)
        if values is not None:
            return values
        if jstyleson is not None:
            try:  # JS comments and trailing commas
                return [jstyleson.loads(candidate, strict=False)]
            except (ValueError, TypeError, IndexError):
                pass
    return None


def _block_texts(selector: Selector, scope: str = "") -> list[str]:
    return ["".join(script.xpath("text()").getall()) for script in selector.xpath(scope + _LDJSON_XPATH)]


def iter_jsonld_blocks(html: str) -> Iterator[str]:
    """Yield the raw text of every ``<script type="application/ld+json">`` element in ``html``.

    Scripts that lxml places outside the root element (after ``</html>``) are included.
    """
    if not html or not html.strip():
        return
    yield from _block_texts(Selector(text=html))


def _type_names(value: Any) -> list[str]:
    types = value if isinstance(value, list) else [value]
    names = []
    for t in types:
        if isinstance(t, str):
            names.append(re.split(r"[/#:]", t.strip())[-1].lower())
    return names


def is_job_posting(obj: Any) -> bool:
    """True if ``obj`` is a dict whose ``@type`` (string, list or IRI) names schema.org JobPosting."""
    return isinstance(obj, dict) and any(n in JOB_POSTING_TYPES for n in _type_names(obj.get("@type")))


def _walk(value: Any, found: list[dict[str, Any]], depth: int = 0) -> None:
    if depth > 20:
        return
    if isinstance(value, list):
        for entry in value:
            _walk(entry, found, depth + 1)
    elif isinstance(value, dict):
        if is_job_posting(value):
            found.append(value)
            return
        for key, entry in value.items():
            if key == "@context":
                continue
            _walk(entry, found, depth + 1)


def _posting_key(posting: dict[str, Any]) -> tuple[str, str | None]:
    title = posting.get("title") or posting.get("name") or ""
    if isinstance(title, list):
        title = title[0] if title else ""
    title_key = " ".join(html_lib.unescape(str(title)).split()).casefold()
    ident = posting.get("identifier")
    if isinstance(ident, dict):
        ident = ident.get("value") or ident.get("@id")
    ident = ident or posting.get("url") or posting.get("@id")
    return title_key, (str(ident) if ident not in (None, "", [], {}) else None)


def _dedupe(postings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One posting per distinct title (and identifier, when both copies carry a different one).

    Copies of one posting (the same ad in ``@graph`` and in a second block) are merged: keys the
    first copy lacks are filled from the later one.
    """
    kept: list[tuple[tuple[str, str | None], dict[str, Any]]] = []
    for posting in postings:
        key = _posting_key(posting)
        for i, (other_key, other) in enumerate(kept):
            same_title = key[0] == other_key[0]
            compatible = key[1] is None or other_key[1] is None or key[1] == other_key[1]
            if same_title and compatible and (key[0] or posting == other):
                merged = dict(other)
                for k, v in posting.items():
                    if k not in merged or merged[k] in (None, "", [], {}):
                        merged[k] = v
                kept[i] = ((key[0], other_key[1] or key[1]), merged)
                break
        else:
            kept.append((key, dict(posting)))
    return [p for _, p in kept]


def _extruct_values(html: str, url: str) -> list[Any] | None:
    """The page's JSON-LD values via extruct, or ``None`` if extruct fails on the page."""
    try:
        import extruct

        data = extruct.extract(html, base_url=url or None, syntaxes=["json-ld"], uniform=False, errors="strict")
    except Exception as exc:  # noqa: BLE001 - extruct raises JSONDecodeError, lxml errors, TypeError...
        logger.debug("extruct failed on %s (%s); parsing JSON-LD blocks one by one", url, exc)
        return None
    values = data.get("json-ld")
    return values if isinstance(values, list) else None


def extract_job_postings(html: str, url: str) -> tuple[list[dict[str, Any]], int]:
    """Find the schema.org JobPosting objects in a page's JSON-LD.

    extruct is tried first. Its result is used only when it parsed the page without error and
    saw every block: it raises on the whole page when one block is malformed, and it misses
    blocks that lxml puts outside the root element (a ``<script>`` after ``</html>``). Otherwise
    each block is parsed on its own by :func:`parse_jsonld_block`.

    Args:
        html: the page's HTML (``response.text``).
        url: the page's URL (base for extruct; used in log messages).

    Returns:
        ``(postings, broken)``: the JobPosting dicts as found in the JSON-LD (values untouched:
        descriptions may still be HTML or HTML-escaped), one per distinct posting (see
        :func:`_dedupe`), in page order; and the number of ``ld+json`` blocks that could not be
        parsed even after cleaning (for the crawl stats). Never raises on bad input.
    """
    if not html or "ld+json" not in html.lower():
        return [], 0
    selector = Selector(text=html)
    blocks = _block_texts(selector)
    if not blocks:
        return [], 0
    values = None
    if len(_block_texts(selector, scope=".")) == len(blocks):
        values = _extruct_values(html, url)
    broken = 0
    if values is None:
        values = []
        for block in blocks:
            parsed = parse_jsonld_block(block)
            if parsed is None:
                broken += 1
                logger.debug("unparseable JSON-LD block on %s: %.80r", url, block)
                continue
            values.extend(parsed)
    found: list[dict[str, Any]] = []
    _walk(values, found)
    return _dedupe(found), broken

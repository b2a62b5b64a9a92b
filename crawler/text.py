"""Text helpers for the crawler: HTML to clean text, inline cleaning and URL canonicalisation.

Pure functions on strings; nothing here touches the network or global state.
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Iterable, Iterator
from urllib.parse import urlsplit, urlunsplit

from bs4 import BeautifulSoup
from bs4.element import (
    Comment,
    Declaration,
    Doctype,
    NavigableString,
    PageElement,
    ProcessingInstruction,
    Tag,
)
from w3lib.url import canonicalize_url as _w3lib_canonicalize_url
from w3lib.url import url_query_cleaner

__all__ = [
    "TRACKING_PARAMS",
    "TRACKING_PREFIXES",
    "canonicalize_url",
    "clean_inline",
    "html_to_text",
    "strip_tracking_params",
]

# Elements whose content is never visible text.
_DROP = frozenset(
    {"script", "style", "noscript", "template", "head", "title", "meta", "link", "iframe", "svg",
     "canvas", "object", "embed", "button", "select", "option", "input", "textarea"}
)
# Paragraph-like blocks: a blank line ("\n\n") before and after.
_PARAGRAPH = frozenset(
    {"address", "article", "aside", "blockquote", "center", "dialog", "div", "dl", "fieldset",
     "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hgroup", "hr",
     "main", "nav", "ol", "p", "pre", "section", "table", "ul", "details", "summary", "body"}
)
# Line-like blocks (list items, table rows, definition terms): one line break before and after.
_LINE = frozenset({"li", "tr", "dt", "dd", "figcaption", "caption", "thead", "tbody", "tfoot"})
# Table cells: separated by a space, like a browser's text copy of a row.
_CELL = frozenset({"td", "th"})

_WS = re.compile(r"\s+")
# A real tag, e.g. "<p>", "</div>", "<br/>", "<a href=...>"; used to tell HTML from plain text.
_TAG = re.compile(r"<\s*/?\s*[a-zA-Z][a-zA-Z0-9]*(?:\s[^<>]*)?/?\s*>")
# Any markup: a tag, a comment or a CDATA section.
_MARKUP = re.compile(_TAG.pattern + r"|<!--|<!\[CDATA\[")
# An HTML-escaped tag, e.g. "&lt;p&gt;" or "&amp;lt;p&amp;gt;".
_ESCAPED_TAG = re.compile(r"&(?:amp;)*lt;\s*/?\s*[a-zA-Z][a-zA-Z0-9]*(?:\s.*?)?/?\s*&(?:amp;)*gt;", re.DOTALL)
_MAX_UNESCAPE = 3


class _Break:
    """A line-break token of ``n`` newlines (1 or 2) in the flattened text stream."""

    __slots__ = ("additive", "n")

    def __init__(self, n: int, additive: bool = False) -> None:
        self.n = n
        self.additive = additive


def _break_for(name: str) -> _Break | str | None:
    if name in _PARAGRAPH:
        return _Break(2)
    if name in _LINE:
        return _Break(1)
    if name in _CELL:
        return " "
    return None


def _flatten(root: Tag) -> list[str | _Break]:
    """The document as a flat stream of text pieces and break tokens.

    Iterative (an explicit stack), so pathological nesting (real pages nest thousands of
    ``<small>`` tags) cannot hit Python's recursion limit.
    """
    out: list[str | _Break] = []
    stack: list[tuple[Iterator[PageElement], _Break | str | None]] = [(iter(root.children), None)]
    while stack:
        children, closing = stack[-1]
        child = next(children, None)
        if child is None:
            stack.pop()
            if closing is not None:
                out.append(closing)
            continue
        if isinstance(child, (Comment, Declaration, Doctype, ProcessingInstruction)):
            continue
        if isinstance(child, NavigableString):
            out.append(str(child))
            continue
        if not isinstance(child, Tag):
            continue
        name = (child.name or "").lower()
        if name in _DROP:
            continue
        if name == "br":
            out.append(_Break(1, additive=True))
            continue
        brk = _break_for(name)
        if brk is not None:
            out.append(brk)
        stack.append((iter(child.children), brk))
    return out


def _render(tokens: list[str | _Break]) -> str:
    """Join text tokens and break tokens: whitespace collapsed, at most one blank line in a row."""
    out: list[str] = []
    buf: list[str] = []
    pending = 0
    for tok in [*tokens, _Break(2)]:
        if isinstance(tok, str):
            buf.append(tok)
            continue
        text = _WS.sub(" ", "".join(buf)).strip()
        buf.clear()
        if text:
            if out:
                out.append("\n" * max(pending, 1))
            out.append(text)
            pending = tok.n
        elif tok.additive:
            pending = min(pending + tok.n, 2)
        else:
            pending = max(pending, tok.n)
    return "".join(out)


def _plain_text(text: str) -> str:
    """Clean text that holds no markup: keep its line structure, collapse other whitespace."""
    lines = [_WS.sub(" ", line).strip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    out: list[str] = []
    blank = False
    for line in lines:
        if not line:
            blank = bool(out)
            continue
        if out:
            out.append("\n\n" if blank else "\n")
        out.append(line)
        blank = False
    return "".join(out)


def _html_pass(markup: str) -> str:
    soup = BeautifulSoup(markup, "lxml")
    return _render(_flatten(soup))


def html_to_text(html: str | None) -> str:
    """Turn an HTML fragment or document into clean, readable text.

    Block elements (``p``, ``div``, ``h1``..``h6``, ``ul``, ``table``...) are separated by a blank
    line (``"\\n\\n"``); list items, table rows and ``<br>`` end a line (``"\\n"``; two ``<br>`` in a
    row make a blank line); other whitespace is collapsed to one space (``&nbsp;`` included);
    ``script``, ``style``, ``noscript``, ``template``, form controls and comments are dropped.

    HTML that arrives HTML-escaped (``&lt;p&gt;Night shift&lt;/p&gt;``, common in JSON-LD
    ``description`` strings, see ``/work/shared/cases/crawl-03-jsonld-escaped-html.json``) is
    unescaped (up to three levels) and then parsed, so its tags become structure, not words.
    Input with no markup at all is treated as plain text: its own line breaks are kept.

    Args:
        html: markup or plain text; ``None`` or empty gives ``""``.

    Returns:
        The text, stripped, with ``"\\n"`` / ``"\\n\\n"`` line structure and no other runs of
        whitespace.
    """
    if not html:
        return ""
    candidate = html
    for _ in range(_MAX_UNESCAPE + 1):
        if _MARKUP.search(candidate):
            text = _html_pass(candidate)
            # Markup whose text still holds tags (escaped HTML inside real HTML): one more level.
            if not (_TAG.search(text) or _ESCAPED_TAG.search(text)):
                return text
            candidate = html_lib.unescape(candidate)
            continue
        if _ESCAPED_TAG.search(candidate):
            candidate = html_lib.unescape(candidate)
            continue
        return _plain_text(html_lib.unescape(candidate))
    return _html_pass(candidate) if _MARKUP.search(candidate) else _plain_text(candidate)


def clean_inline(value: str | None) -> str | None:
    """Clean a one-line value (title, employer, location...): HTML to text, all whitespace collapsed.

    Args:
        value: markup or text, possibly HTML-escaped (``"Events &amp; Marketing"``).

    Returns:
        The value on one line with single spaces, or ``None`` if nothing is left.
    """
    if value is None:
        return None
    text = _WS.sub(" ", html_to_text(value)).strip()
    return text or None


# Query parameters that only track the visitor or the click and never select content.
TRACKING_PARAMS: frozenset[str] = frozenset(
    {
        "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "fbclid", "msclkid", "yclid", "twclid",
        "ttclid", "li_fat_id", "igshid", "mc_cid", "mc_eid", "mkt_tok", "_ga", "_gl", "_hsenc",
        "_hsmi", "__hstc", "__hssc", "__hsfp", "hsctatracking", "oly_anon_id", "oly_enc_id",
        "vero_id", "rb_clickid", "s_cid", "wt.mc_id", "spm", "scm", "ref_src", "ref_url",
        # LinkedIn click/impression tracking (refId/trackingId change on every search).
        "trk", "trkinfo", "refid", "trackingid", "lipi", "midtoken", "midsig",
    }
)
# Prefixes of tracking parameters (``utm_source``, ``utm_medium``, ``pk_campaign``...).
TRACKING_PREFIXES: tuple[str, ...] = ("utm_", "pk_", "mtm_", "matomo_", "hsa_", "ga_")

_DEFAULT_PORTS = {"http": 80, "https": 443}


def _is_tracking(name: str, extra: frozenset[str]) -> bool:
    low = name.lower()
    return low in TRACKING_PARAMS or low in extra or low.startswith(TRACKING_PREFIXES)


def strip_tracking_params(url: str, drop_params: Iterable[str] = (), keep_fragment: bool = True) -> str:
    """Remove tracking query parameters (see :func:`canonicalize_url`) and keep everything else as is.

    Unlike :func:`canonicalize_url` the query order, host case and percent-encoding are left
    alone, so the result is the URL to fetch. With ``keep_fragment=False`` the ``#fragment`` is
    dropped too.
    """
    parts = urlsplit(url)
    extra = frozenset(p.lower() for p in drop_params)
    if parts.query:
        names = {pair.split("=", 1)[0] for pair in parts.query.split("&") if pair}
        remove = [n for n in names if _is_tracking(n, extra)]
        if remove:
            url = url_query_cleaner(url, remove, remove=True, unique=False, keep_fragments=True)
            parts = urlsplit(url)
    if not keep_fragment and parts.fragment:
        url = urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, ""))
    return url


def canonicalize_url(url: str, drop_params: Iterable[str] = ()) -> str:
    """Canonical form of a URL, used as an ad's identity (``AdItem.canonical_url``).

    Lower-cases scheme and host, drops a default port (``:80``/``:443``) and the fragment,
    removes tracking query parameters (``utm_*``, ``gclid``, ``fbclid``, LinkedIn's ``trk``/
    ``refId``/``trackingId``... see :data:`TRACKING_PARAMS` and :data:`TRACKING_PREFIXES`, matched
    case-insensitively) and sorts the remaining query arguments (``w3lib.url.canonicalize_url``,
    which also normalises percent-encoding).

    Args:
        url: an absolute URL. A string that is not an http(s) URL is returned stripped, unchanged.
        drop_params: more parameter names to remove (case-insensitive), e.g. a site's own
            ``position``/``pageNum`` listing-position parameters.

    Returns:
        The canonical URL string.
    """
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return url
    canon = _w3lib_canonicalize_url(strip_tracking_params(url, drop_params), keep_fragments=False)
    parts = urlsplit(canon)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    netloc = host
    if parts.username:
        userinfo = parts.username + (f":{parts.password}" if parts.password else "")
        netloc = f"{userinfo}@{host}"
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        netloc = f"{netloc}:{port}"
    path = parts.path or "/"
    return urlunsplit((scheme, netloc, path, parts.query, ""))

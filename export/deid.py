"""De-identification of ad text for exports: contacts become type tokens or keyed pseudonyms.

Two modes:

* ``redact``: every contact becomes its type token, ``[PHONE]``, ``[EMAIL]``, ``[HANDLE]``, ``[URL]``
  or ``[CONTACT]`` (a raw contact string of unknown type, e.g. a line of ``ad.contact_raw``).
* ``pseudonymize``: ``[PHONE_kxbtmnpq]``: the type and a keyed pseudonym. The pseudonym is an
  HMAC-SHA256, under the export secret (``ADWATCH_EXPORT_SECRET``), of the contact's storage link key
  (``entity.value_hmac``, itself a keyed HMAC of ``"<type>:<normalised value>"`` under
  ``ADWATCH_HMAC_KEY``). So one phone number gets one pseudonym in every ad and in every export made
  with the same secret (researchers can link ads), another secret gives unrelated pseudonyms, and a
  purged entity (value removed, HMAC kept) keeps its pseudonym. The hex digest is written with 16
  consonants (``bcdfghjkmnpqrstv`` for 0-f) so that a pseudonym never contains a digit, a vowel or a
  look-alike letter (``o``, ``l``, ``I``): the phone extractor cannot read a number into it.

What is replaced, on the original text (overlapping or touching spans merge into one token whose type
is the first of phone, email, handle, url, contact present in it, so ``WhatsApp +1 415 555 0132``
becomes one ``[PHONE_...]`` that links with the same number written plainly elsewhere):

1. the contact mentions stored for the ad (``ad_entity`` rows of type phone, email, handle, url);
2. the phones, e-mails and messaging handles :class:`scoring.extract.ContactExtractor` finds now;
3. URLs: with a scheme or ``www.``, and bare ``domain.tld/path`` forms (the path carries profile ids:
   ``wa.me/14155550132``, ``t.me/name``); a bare domain without a path is kept;
4. every raw contact string stored in the database (:class:`ContactLiterals`: ``entity.value``,
   ``ad_entity.text``, the lines of ``ad.contact_raw`` and the name part of handles) wherever it
   occurs, case-insensitively: a number one ad wrote plainly and another hid from the extractor
   (``Job ID 212-555-0147``) is caught here;
5. then the extractor reads the replaced text again; whatever phone, e-mail or handle it still finds is
   added and the text rebuilt (at most :data:`MAX_PASSES` times, else :class:`~export.errors.ExportError`).

Offsets of indicator hits are remapped into the replaced text with :meth:`DeidText.map_span`.

Not removed: personal names, addresses and photos' descriptions written in free text (no name
recogniser runs); the datasheet says so.
"""

from __future__ import annotations

import bisect
import hashlib
import hmac
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from export.errors import ExportError
from scoring.extract import ContactExtractor
from scoring.normalize import normalize_text
from storage.repository import entity_hmac

MODES = ("redact", "pseudonymize")
"""De-identification modes (``--redact``, ``--pseudonymize``)."""

CONTACT_TYPES = ("phone", "email", "handle", "url", "contact")
"""Token types, in merge priority order (the first one present in a merged span names its token)."""

EXTRACTED_TYPES = frozenset({"phone", "email", "handle"})
"""Extractor entity types that are replaced (ages, prices and places are not identifying)."""

MIN_SECRET_LENGTH = 32
"""Shortest accepted ``ADWATCH_EXPORT_SECRET`` (characters), as for the web app's secret."""

MAX_PASSES = 4
"""Rebuilds allowed while the extractor still finds a contact in the replaced text."""

MIN_LITERAL = 4
"""Shortest stored contact string searched for literally; 4-5 character ones must stand as a word."""

MAX_LITERAL = 200
"""Longest stored contact string searched for literally (longer ``contact_raw`` values are searched
line by line and by the contacts the extractor finds in them)."""

PSEUDONYM_ALPHABET = "bcdfghjkmnpqrstv"
"""The 16 letters that write a pseudonym's hex digits 0-f (no digit, vowel or look-alike letter)."""

_URL_RE = re.compile(
    r"(?i)(?:\b(?:https?|ftp)://|\bwww\.)[^\s<>\"'\[\]]+"  # scheme or www.
    r"|\b(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,24}/[^\s<>\"'\[\]]*[\w/=#-]"  # domain.tld/path
)
_TRAILING = ".,;:!?)"


def check_secret(secret: str | None) -> str:
    """Return ``secret`` if it can key pseudonyms.

    Raises:
        ExportError: missing, or shorter than :data:`MIN_SECRET_LENGTH` characters.
    """
    if not secret or len(secret.strip()) < MIN_SECRET_LENGTH:
        raise ExportError(
            "--pseudonymize needs ADWATCH_EXPORT_SECRET set to a random value of at least "
            f"{MIN_SECRET_LENGTH} characters (python -c 'import secrets; print(secrets.token_urlsafe(32))'); "
            "keep it: exports made with another secret get other pseudonyms"
        )
    return secret.strip()


def pseudonym(secret: str | bytes, type_: str, link_key: str, chars: int = 8) -> str:
    """The keyed pseudonym of a contact: HMAC-SHA256(secret, ``"<type>:<link_key>"``), first ``chars``
    hex digits written with :data:`PSEUDONYM_ALPHABET`.

    Args:
        secret: the export secret.
        type_: token type (:data:`CONTACT_TYPES`).
        link_key: the contact's storage link key (``entity.value_hmac``).
        chars: pseudonym length, 4-32 (``4 * chars`` bits; 8 gives 32 bits, so two of 10,000
            distinct contacts share a pseudonym with probability about 1 %).
    """
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    digest = hmac.new(key, f"{type_}:{link_key}".encode(), hashlib.sha256).hexdigest()
    return "".join(PSEUDONYM_ALPHABET[int(c, 16)] for c in digest[:chars])


def normalize_url(url: str) -> str:
    """Link form of a URL: lower-case, without scheme, ``www.`` and trailing slashes."""
    u = re.sub(r"(?i)^(?:https?|ftp)://", "", url.strip()).lower()
    u = u.removeprefix("www.")
    return u.rstrip("/")


def url_spans(text: str) -> list[tuple[int, int]]:
    """Spans of URLs in ``text`` that may carry an id (see module docstring, item 3)."""
    out = []
    for m in _URL_RE.finditer(text):
        s, e = m.span()
        while e > s and text[e - 1] in _TRAILING:
            e -= 1
        if e > s:
            out.append((s, e))
    return out


@dataclass(slots=True, frozen=True)
class Mention:
    """A contact span to replace: ``[start, end)`` in the original text, its type and link key
    (``entity.value_hmac`` or the same HMAC computed for a value found now)."""

    start: int
    end: int
    type: str
    link_key: str


@dataclass(slots=True)
class Replacement:
    """One replaced span: ``[start, end)`` in the original text, ``[new_start, new_end)`` in the output."""

    start: int
    end: int
    new_start: int
    new_end: int
    type: str
    token: str


@dataclass(slots=True)
class DeidText:
    """A de-identified text and how to map offsets of the original into it.

    Attributes:
        text: the de-identified text.
        replacements: the replaced spans in text order.
    """

    text: str
    replacements: list[Replacement] = field(default_factory=list)

    def counts(self) -> Counter[str]:
        """Replacements per token type."""
        return Counter(r.type for r in self.replacements)

    def map_span(self, start: int, end: int) -> tuple[int, int]:
        """Map ``[start, end)`` of the original text into :attr:`text`.

        A span that begins or ends inside a replaced span is widened to the whole token, so that
        ``text[new_start:new_end]`` is the de-identified form of the original span.
        """
        return self._map(start, True), self._map(end, False)

    def _map(self, pos: int, is_start: bool) -> int:
        reps = self.replacements
        i = bisect.bisect_right([r.start for r in reps], pos) - 1
        if i < 0:
            return pos
        r = reps[i]
        if pos >= r.end:
            return r.new_end + (pos - r.end)
        if pos == r.start:
            return r.new_start
        return r.new_start if is_start else r.new_end

    def to_original(self, pos: int, is_start: bool) -> int:
        """Inverse of :meth:`map_span` for one position of :attr:`text` (inside a token: its start or end)."""
        prev_end, prev_new_end = 0, 0
        for r in self.replacements:
            if pos < r.new_start:
                break
            if pos < r.new_end or (pos == r.new_end and not is_start):
                return r.start if is_start and pos < r.new_end else r.end
            prev_end, prev_new_end = r.end, r.new_end
        return prev_end + (pos - prev_new_end)


# ------------------------------------------------------------------ stored contact strings ------
def _trie_pattern(words: Iterable[str]) -> str:
    """A regular expression matching any of ``words`` (lower-case), longest first, as a trie."""
    trie: dict[str, dict] = {}  # type: ignore[type-arg]
    for w in words:
        node = trie
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict) -> str:  # type: ignore[type-arg]
        alts = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        return f"(?:{body})?" if "" in node else body

    return build(trie)


class ContactLiterals:
    """Every raw contact string stored in the database, found wherever it occurs in a text.

    Args:
        literals: ``{string: (type, link_key)}``; strings are matched case-insensitively; those
            shorter than :data:`MIN_LITERAL` are ignored, those shorter than 6 characters must stand
            as a word (not inside a longer word), those longer than :data:`MAX_LITERAL` are ignored.
    """

    def __init__(self, literals: dict[str, tuple[str, str]]) -> None:
        self.literals: dict[str, tuple[str, str]] = {}
        for s, v in literals.items():
            k = s.strip().lower()
            if MIN_LITERAL <= len(k) <= MAX_LITERAL:
                # the higher-priority type wins when one string is stored under two
                old = self.literals.get(k)
                if old is None or CONTACT_TYPES.index(v[0]) < CONTACT_TYPES.index(old[0]):
                    self.literals[k] = v
        long = [k for k in self.literals if len(k) >= 6]
        short = [k for k in self.literals if len(k) < 6]
        parts = []
        if long:
            parts.append(_trie_pattern(long))
        if short:
            parts.append(rf"(?<!\w){_trie_pattern(short)}(?!\w)")
        self._re = re.compile("|".join(parts), re.IGNORECASE) if parts else None

    def __len__(self) -> int:
        return len(self.literals)

    def find(self, text: str) -> list[Mention]:
        """Occurrences of stored contact strings in ``text`` (leftmost, longest)."""
        if self._re is None:
            return []
        out = []
        for m in self._re.finditer(text):
            if m.end() > m.start():
                type_, key = self.literals.get(m.group(0).lower(), ("contact", ""))
                out.append(Mention(m.start(), m.end(), type_, key or m.group(0).lower()))
        return out


# ------------------------------------------------------------------ de-identifier ---------------
class Deidentifier:
    """Replace contacts in ad texts (see the module docstring for what is found and how).

    Args:
        extractor: the project's contact extractor (``ContactExtractor(load_extraction_lexicon(dir))``).
        mode: ``redact`` or ``pseudonymize`` (:data:`MODES`).
        hmac_key: the installation's entity HMAC key (``AppSettings.hmac_key``), to compute the link
            key of a contact found now exactly as storage would.
        secret: the export secret; required for ``pseudonymize`` (checked by :func:`check_secret`).
        literals: stored contact strings to search for (:class:`ContactLiterals`), or None.
        region: ISO 3166-1 alpha-2 region for phone numbers without a country code.
        pseudonym_chars: pseudonym length (see :func:`pseudonym`).

    Raises:
        ExportError: unknown mode, or ``pseudonymize`` without a usable secret.
    """

    def __init__(self, extractor: ContactExtractor, mode: str, hmac_key: str | bytes, *, secret: str | None = None,
                 literals: ContactLiterals | None = None, region: str = "US", pseudonym_chars: int = 8) -> None:
        if mode not in MODES:
            raise ExportError(f"unknown de-identification mode {mode!r} (one of {', '.join(MODES)})")
        self.extractor = extractor
        self.mode = mode
        self.hmac_key = hmac_key
        self.secret = check_secret(secret) if mode == "pseudonymize" else None
        self.literals = literals
        self.region = region
        self.pseudonym_chars = pseudonym_chars

    def token(self, type_: str, link_key: str) -> str:
        """``[PHONE]`` (redact) or ``[PHONE_<pseudonym>]`` (pseudonymize) for a contact."""
        if self.secret is None:
            return f"[{type_.upper()}]"
        return f"[{type_.upper()}_{pseudonym(self.secret, type_, link_key, self.pseudonym_chars)}]"

    def found(self, text: str) -> list[Mention]:
        """Phones, e-mails and handles the extractor finds in ``text`` and URLs (:func:`url_spans`),
        with their link keys."""
        out = [Mention(e.start, e.end, e.type, entity_hmac(self.hmac_key, e.type, e.value))
               for e in self.extractor.extract(normalize_text(text), self.region) if e.type in EXTRACTED_TYPES]
        out += [Mention(s, e, "url", entity_hmac(self.hmac_key, "url", normalize_url(text[s:e])))
                for s, e in url_spans(text)]
        return out

    def deidentify(self, text: str, stored: Sequence[Mention] = (), extra: Sequence[Mention] = (),
                   *, ref: str = "text") -> DeidText:
        """De-identify ``text``.

        Args:
            text: the original text.
            stored: the ad's stored contact mentions (offsets into ``text``).
            extra: more spans to replace (e.g. the lines of the ad's ``contact_raw``).
            ref: names the text in an error message (``"ad 17"``).

        Returns:
            The de-identified text with its replacements.

        Raises:
            ExportError: the extractor still finds a contact after :data:`MAX_PASSES` rebuilds.
        """
        mentions = [m for m in (*stored, *extra) if 0 <= m.start < m.end <= len(text)]
        mentions += self.found(text)
        if self.literals is not None:
            mentions += self.literals.find(text)
        for _ in range(MAX_PASSES):
            result = self._apply(text, mentions)
            left = [e for e in self.extractor.extract(normalize_text(result.text), self.region)
                    if e.type in EXTRACTED_TYPES]
            left_urls = url_spans(result.text)
            if not left and not left_urls:
                return result
            for e in left:
                s, t = result.to_original(e.start, True), result.to_original(e.end, False)
                mentions.append(Mention(s, t, e.type, entity_hmac(self.hmac_key, e.type, e.value)))
            for s0, e0 in left_urls:
                s, t = result.to_original(s0, True), result.to_original(e0, False)
                mentions.append(Mention(s, t, "url", entity_hmac(self.hmac_key, "url", normalize_url(text[s:t]))))
        raise ExportError(f"{ref}: a contact is still found after {MAX_PASSES} de-identification passes; "
                          "the ad was not exported")

    def _apply(self, text: str, mentions: list[Mention]) -> DeidText:
        """Merge overlapping or touching mentions and build the replaced text."""
        merged: list[list[Mention]] = []
        ends: list[int] = []
        for m in sorted(mentions, key=lambda x: (x.start, -x.end)):
            if merged and m.start <= ends[-1]:
                merged[-1].append(m)
                ends[-1] = max(ends[-1], m.end)
            else:
                merged.append([m])
                ends.append(m.end)
        out: list[str] = []
        reps: list[Replacement] = []
        pos = 0
        new_len = 0
        for group, end in zip(merged, ends):
            start = group[0].start
            best = min(group, key=lambda x: (CONTACT_TYPES.index(x.type) if x.type in CONTACT_TYPES else 99,
                                             -(x.end - x.start), x.start))
            type_ = best.type if best.type in CONTACT_TYPES else "contact"
            tok = self.token(type_, best.link_key)
            out.append(text[pos:start])
            new_len += start - pos
            reps.append(Replacement(start, end, new_len, new_len + len(tok), type_, tok))
            out.append(tok)
            new_len += len(tok)
            pos = end
        out.append(text[pos:])
        return DeidText("".join(out), reps)

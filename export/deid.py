"""De-identification of ad text for exports: contacts become type tokens or keyed pseudonyms.

Two modes:

* ``redact``: every contact becomes its type token, ``[PHONE]``, ``[EMAIL]``, ``[HANDLE]``, ``[URL]``
  or ``[CONTACT]`` (a raw contact string of unknown type, e.g. a line of ``ad.contact_raw``).
* ``pseudonymize``: ``[PHONE_kxbtmnpq]``: the type and a keyed pseudonym. The pseudonym is an
  HMAC-SHA256, under the export secret (``ADWATCH_EXPORT_SECRET``), of the contact's storage link key
  (``entity.value_hmac``, itself a keyed HMAC of ``"<type>:<normalised value>"`` under
  ``ADWATCH_HMAC_KEY``). So one phone number gets one pseudonym in every ad and in every export made
  with the same secret (researchers can link ads), another secret gives unrelated pseudonyms, and a
  purged entity (value removed, HMAC kept) keeps its pseudonym. The pseudonym is the first 8 hex
  digits of the digest (``AppSettings.export_pseudonym_chars``), each written as one of 16 consonants
  (``bcdfghjkmnpqrstv`` for 0-f), so that it never contains a digit, a vowel or a look-alike letter
  (``o``, ``l``, ``I``): the phone extractor cannot read a number into it.

What is replaced, on the original text (overlapping or touching spans merge into one token whose type
is the first of phone, email, handle, url, contact present in it, so ``WhatsApp +1 415 555 0132``
becomes one ``[PHONE_...]`` that links with the same number written plainly elsewhere):

1. the contact mentions stored for the ad (``ad_entity`` rows of type phone, email, handle, url);
2. the phones, e-mails and messaging handles :class:`scoring.extract.ContactExtractor` finds now;
3. URLs: with a scheme or ``www.``, and bare ``domain.tld/path`` forms (the path carries profile ids:
   ``wa.me/14155550132``, ``t.me/name``); a bare domain without a path is kept;
4. what the extractor does not read (all in :meth:`Deidentifier.found`): any ``@name`` that is not
   part of an e-mail (``TikTok (@lily_xo)``, ``X @acme_jobs``: a handle on any platform); a platform
   name of the extractor's lexicon followed by a user-name-like word, one with a digit or ``_``
   (``kik lily_xo``); phones written with look-alike letters (``2I2-5S5-0I47``: :data:`LEET` letters
   inside a word of digits are read as digits, then the extractor runs on that copy); and a
   dataset's own hashed contacts (``#EMAIL_<hex>#``, ``#PHONE_<hex>#``, ``#URL_<hex>#`` in EMSCAD
   texts: unkeyed hashes, the same in every copy of the dataset), replaced as the contact type they
   stand for and keyed by the hash;
5. every raw contact string stored in the database (:class:`ContactLiterals`: ``entity.value``,
   ``ad_entity.text``, the lines of ``ad.contact_raw`` and the name part of handles) wherever it
   occurs, case-insensitively: a number one ad wrote plainly and another hid from the extractor
   (``Job ID 212-555-0147``) is caught here;
6. then the replaced text is read again (items 2-4); whatever is still found is added and the text
   rebuilt (at most :data:`MAX_PASSES` times, else :class:`~export.errors.ExportError`).

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
from scoring.extract import DATASET_CONTACT_TOKEN, ContactExtractor
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

LEET = {"I": "1", "l": "1", "|": "1", "O": "0", "o": "0", "S": "5", "B": "8", "Z": "2"}
"""Look-alike letters read as digits inside a word made of digits and these letters, with at least two
digits (``2I2``, ``5S5``, ``0I47``; not ``S5`` or ``iPhone``). Wider than the extractor's look-alikes
(``o``, ``l``, ``I``): in an export over-redaction is cheap, while the extractor, which feeds the
risk score, would read ``Galaxy S5 2125550147`` as one Brazilian number with ``S`` -> 5."""

DATASET_TOKEN_TYPES = {"EMAIL": "email", "PHONE": "phone", "URL": "url"}
"""Hashed-contact tokens of public datasets (EMSCAD: ``#EMAIL_<sha256>#``) -> contact type."""

_AT_HANDLE_RE = re.compile(r"(?<![\w.@+%&/-])@(?P<name>[A-Za-z0-9_](?:[A-Za-z0-9_.]{0,62}[A-Za-z0-9_])?)")
_NOT_A_NAME_RE = re.compile(r"(?i)\d+(?:[.:]\d+)?(?:am|pm|h)?")  # "@5pm", "@ 40", "@10.30": times, prices
_LEET_WORD_RE = re.compile(r"(?<![\w|])[0-9IlOoSBZ|]*\d[0-9IlOoSBZ|]*(?![\w|])")

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


def dataset_tokens(text: str) -> list[tuple[int, int, str, str]]:
    """A dataset's hashed-contact tokens in ``text``: ``(start, end, contact type, lower-case hex)``
    for ``#EMAIL_<hex>#``, ``#PHONE_<hex>#`` and ``#URL_<hex>#``
    (:data:`scoring.extract.DATASET_CONTACT_TOKEN`)."""
    return [(m.start(), m.end(), DATASET_TOKEN_TYPES[m.group(1).upper()], m.group(2).lower())
            for m in DATASET_CONTACT_TOKEN.finditer(text)]


def at_handles(text: str) -> list[tuple[int, int, str]]:
    """``@name`` mentions that are not part of an e-mail: ``(start, end, lower-case name)``.

    The ``@`` must not follow a letter, digit or one of ``.@+%&/-`` (an e-mail's local part, a URL);
    the name is 1-64 letters, digits, ``_`` or inner dots; names that read as a time or an amount
    (``@5pm``, ``@40``, ``@10.30``) are not handles.
    """
    out = []
    for m in _AT_HANDLE_RE.finditer(text):
        name = m.group("name")
        if not _NOT_A_NAME_RE.fullmatch(name):
            out.append((m.start(), m.end(), name.lower()))
    return out


def fold_lookalikes(text: str) -> str:
    """``text`` with :data:`LEET` letters read as digits inside words of digits and look-alikes that
    hold at least two digits; same length, so offsets are unchanged."""
    def fold(m: re.Match[str]) -> str:
        word = m.group(0)
        if sum(c.isdigit() for c in word) < 2:
            return word
        return "".join(LEET.get(c, c) for c in word)

    return _LEET_WORD_RE.sub(fold, text)


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
        lexicon = getattr(extractor, "lexicon", None)  # a stand-in extractor may have none
        self._platforms: dict[str, tuple[str, bool]] = dict(getattr(lexicon, "platforms", None) or {})
        alts = "|".join(r"[\s-]+".join(re.escape(w) for w in a.split())
                        for a in sorted(self._platforms, key=len, reverse=True) if a.split()) or r"(?!x)x"
        # a platform name, separators, then a word that looks like a user name (checked in found());
        # no bracket before the name: "(@name)" is at_handles' job, and "[HANDLE_...]" is our own token
        self._platform_name_re = re.compile(
            rf"(?i)(?<![\w@./])(?P<alias>{alts})(?!\w)(?:\s*(?:[:=>]|-+|\b(?:id|is|me|at)\b))*\s*"
            r"(?P<name>[A-Za-z][A-Za-z0-9_.]{1,31}[A-Za-z0-9_])"
        )

    def token(self, type_: str, link_key: str) -> str:
        """``[PHONE]`` (redact) or ``[PHONE_<pseudonym>]`` (pseudonymize) for a contact."""
        if self.secret is None:
            return f"[{type_.upper()}]"
        return f"[{type_.upper()}_{pseudonym(self.secret, type_, link_key, self.pseudonym_chars)}]"

    def found(self, text: str) -> list[Mention]:
        """Every contact found in ``text`` now, with its link key: the extractor's phones, e-mails and
        handles; URLs (:func:`url_spans`); ``@name`` handles (:func:`at_handles`); a platform name
        followed by a user-name-like word (with a digit or ``_``: ``kik lily_xo``); phones written
        with look-alike letters (:func:`fold_lookalikes`); a dataset's hashed-contact tokens
        (:func:`dataset_tokens`; other finds inside them are dropped)."""
        out = [Mention(e.start, e.end, e.type, entity_hmac(self.hmac_key, e.type, e.value))
               for e in self.extractor.extract(normalize_text(text), self.region) if e.type in EXTRACTED_TYPES]
        out += [Mention(s, e, "url", entity_hmac(self.hmac_key, "url", normalize_url(text[s:e])))
                for s, e in url_spans(text)]
        out += [Mention(s, e, "handle", self._handle_key(name, f"@{name}")) for s, e, name in at_handles(text)]
        for m in self._platform_name_re.finditer(text):
            name = m.group("name").lower()
            if "_" in name or any(c.isdigit() for c in name):
                platform = self._platforms[" ".join(m.group("alias").lower().replace("-", " ").split())][0]
                out.append(Mention(m.start("name"), m.end("name"), "handle",
                                   self._handle_key(name, f"{platform}:@{name}")))
        folded = fold_lookalikes(text)
        if folded != text:
            seen = {(m.start, m.end) for m in out if m.type == "phone"}
            out += [Mention(e.start, e.end, "phone", entity_hmac(self.hmac_key, "phone", e.value))
                    for e in self.extractor.extract(normalize_text(folded), self.region)
                    if e.type == "phone" and (e.start, e.end) not in seen]
        tokens = dataset_tokens(text)
        if tokens:
            out = [m for m in out if not any(s <= m.start and m.end <= e for s, e, _, _ in tokens)]
            out += [Mention(s, e, t, entity_hmac(self.hmac_key, t, f"dataset-token:{h}")) for s, e, t, h in tokens]
        return out

    def _handle_key(self, name: str, value: str) -> str:
        """Link key of a handle found by name: a stored handle's key when ``name`` is one (so that
        ``@lily_xo`` links with ``instagram:@lily_xo`` stored elsewhere), else the HMAC of ``value``."""
        if self.literals is not None:
            hit = self.literals.literals.get(name)
            if hit is not None and hit[0] == "handle":
                return hit[1]
        return entity_hmac(self.hmac_key, "handle", value)

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
            ExportError: a contact is still found (:meth:`found`) after :data:`MAX_PASSES` rebuilds.
        """
        mentions = [m for m in (*stored, *extra) if 0 <= m.start < m.end <= len(text)]
        mentions += self.found(text)
        if self.literals is not None:
            mentions += self.literals.find(text)
        for _ in range(MAX_PASSES):
            result = self._apply(text, mentions)
            left = self.found(result.text)
            if not left:
                return result
            for m in left:
                s, t = result.to_original(m.start, True), result.to_original(m.end, False)
                key = entity_hmac(self.hmac_key, "url", normalize_url(text[s:t])) if m.type == "url" else m.link_key
                mentions.append(Mention(s, t, m.type, key))
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

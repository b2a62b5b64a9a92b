"""Review-app queries and actions on the adwatch database. The caller owns the Session: nothing here
commits (routes commit after an action).

The queue lives in ``review_item`` (one row per flagged ad: state, priority = latest risk raised
by the ad's contact network, :mod:`linking.risk`; assignee): :func:`sync_review_items` brings it up to date with new scores, so that the queue page
reads one indexed table with keyset pagination instead of ranking every score.
"""

from __future__ import annotations

import base64
import contextlib
import difflib
import re
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]
from sqlalchemy import and_, delete, exists, func, insert, or_, select, update
from sqlalchemy.orm import Session

from config.settings import Bands
from linking.risk import linked_risk
from scoring.extract import DATASET_CONTACT_TOKEN
from storage.models import (
    Ad,
    AdEntity,
    AdLink,
    AdVersion,
    AppUser,
    AuditEvent,
    ContactNetwork,
    Decision,
    Entity,
    IndicatorHit,
    ReviewItem,
    Score,
    utcnow,
)
from storage.repository import CONTACT_ENTITY_TYPES, FLAGGED_BANDS, audit
from webapp.errors import BadInput, NotFound

STATES = ("new", "confirmed", "dismissed", "escalated", "needs_info")
"""``review_item.state`` (and ``ad.review_status``) values."""

DECISIONS = {"confirm": "confirmed", "dismiss": "dismissed", "escalate": "escalated", "needs_info": "needs_info"}
"""API decision verb -> resulting state."""

REASON_CODES: dict[str, str] = {
    "indicators_confirmed": "Indicators present and credible in context",
    "linked_known_case": "Linked to a known case or contact",
    "possible_minor": "Possible minor or imminent risk",
    "third_party_control": "Signs of third-party control",
    "benign_context": "Wording is benign in context",
    "extraction_error": "Indicator or contact extracted wrongly",
    "duplicate": "Duplicate of an ad already reviewed",
    "out_of_scope": "Out of scope (not a job or sex-work ad)",
    "insufficient_information": "Not enough information to decide",
    "needs_translation": "Needs translation or language expertise",
    "other": "Other (explain in the note)",
}
"""Reason codes an analyst picks with a decision (stored with it; decisions become training labels)."""

DEFAULT_REASON = {"confirm": "indicators_confirmed", "dismiss": "benign_context", "escalate": "possible_minor",
                  "needs_info": "insufficient_information"}
"""Reason preselected by the keyboard shortcuts when the analyst has not picked one."""


# ---------------------------------------------------------------- indicator catalogue -----------
def load_catalog(indicators_dir: Path) -> dict[str, dict[str, Any]]:
    """``{indicator id: {category, description, source, weight}}`` from the ``*.yml`` lexicons
    (``kind: indicators``) in ``indicators_dir``; the same data the scorer loads."""
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(Path(indicators_dir).glob("*.yml")):
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
        if doc.get("kind") != "indicators":
            continue
        for ind in doc.get("indicators") or []:
            out[str(ind["id"])] = {
                "category": ind.get("category", ""), "description": " ".join(str(ind.get("description", "")).split()),
                "source": str(ind.get("source", "")), "weight": ind.get("weight"),
            }
    return out


def category_style(category: str) -> int:
    """Which of the 8 highlight styles (background colour + underline pattern) a category gets."""
    return zlib.crc32(category.encode()) % 8


def category_label(category: str) -> str:
    """Human form of a category id (``new_in_town`` -> ``new in town``)."""
    return category.replace("_", " ")


# ---------------------------------------------------------------- queue sync --------------------
def sync_review_items(session: Session, after_score_id: int = 0, now: datetime | None = None) -> int:
    """Bring ``review_item`` up to date with scores whose id is above ``after_score_id``.

    For every ad with such a score, its newest score decides: flagged (:data:`FLAGGED_BANDS`) ->
    the review item is created or gets the new ``score_id`` and ``priority`` (= linked risk); no longer
    flagged -> an undecided (``new``) item leaves the queue, a decided one keeps its state.

    Returns:
        The highest score id seen (pass it as ``after_score_id`` next time).
    """
    now = now or utcnow()
    top = session.scalar(select(func.max(Score.id))) or 0
    if top <= after_score_id:
        return after_score_id
    latest = (select(Score.ad_id.label("ad_id"), func.max(Score.id).label("sid"))
              .where(Score.id > after_score_id).group_by(Score.ad_id).subquery())
    rows = session.execute(
        select(latest.c.ad_id, latest.c.sid, Score.risk, Score.band, ContactNetwork.boost).join(Score, Score.id == latest.c.sid)
        .outerjoin(AdLink, AdLink.ad_id == latest.c.ad_id).outerjoin(ContactNetwork, ContactNetwork.id == AdLink.network_id)
    ).all()
    chunk = 500
    for i in range(0, len(rows), chunk):
        part = rows[i:i + chunk]
        ids = [r[0] for r in part]
        existing = dict(session.execute(
            select(ReviewItem.ad_id, ReviewItem.state).where(ReviewItem.ad_id.in_(ids))).tuples().all())
        inserts, updates, drops = [], [], []
        for ad_id, sid, risk, band, boost in part:
            flagged = band in FLAGGED_BANDS
            priority = linked_risk(risk, boost)  # risk raised by the ad's contact network (linking.risk)
            if ad_id in existing:
                if flagged or existing[ad_id] != "new":
                    updates.append({"ad_id": ad_id, "score_id": sid, "priority": priority})
                else:
                    drops.append(ad_id)
            elif flagged:
                inserts.append({"ad_id": ad_id, "score_id": sid, "priority": priority, "state": "new",
                                "created_at": now, "updated_at": now})
        if inserts:
            session.execute(insert(ReviewItem), inserts)
        for u in updates:
            session.execute(update(ReviewItem).where(ReviewItem.ad_id == u["ad_id"])
                            .values(score_id=u["score_id"], priority=u["priority"]))
        if drops:
            session.execute(delete(ReviewItem).where(ReviewItem.ad_id.in_(drops), ReviewItem.state == "new"))
    session.flush()
    return int(top)


# ---------------------------------------------------------------- masking -----------------------
def mask_text(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` with every letter and digit inside ``spans`` (character offsets) replaced by ``•``;
    length and offsets are kept, so indicator spans stay valid."""
    if not spans:
        return text
    chars = list(text)
    for s, e in spans:
        for i in range(max(s, 0), min(e, len(chars))):
            if chars[i].isalnum():
                chars[i] = "•"
    return "".join(chars)


def contact_spans(session: Session, ad_ids: list[int]) -> dict[int, list[tuple[int, int]]]:
    """Offsets of contact mentions (phone, e-mail, handle, URL) per ad."""
    out: dict[int, list[tuple[int, int]]] = defaultdict(list)
    if ad_ids:
        for ad_id, s, e in session.execute(select(AdEntity.ad_id, AdEntity.start, AdEntity.end)
                                           .where(AdEntity.ad_id.in_(ad_ids), AdEntity.type.in_(CONTACT_ENTITY_TYPES))):
            out[ad_id].append((s, e))
    return out


def masked_title(title: str | None, spans: list[tuple[int, int]]) -> str | None:
    """The title with contacts masked (``Ad.text`` starts with the title, so offsets apply)."""
    return mask_text(title, spans) if title else title


_NOTE_CONTACT_RES = (
    # a run of at least 5 digits, possibly split by spaces, dots, dashes, slashes or brackets
    # (local numbers such as ``555-0147`` that the phone extractor leaves alone without an area code)
    re.compile(r"\+?\(?\d(?:[\s().\-/]{0,3}\d){4,}"),
    re.compile(r"[\w.+-]+\s*(?:@|\(at\)|\[at\])\s*[\w-]+(?:\s*(?:\.|\(dot\)|\[dot\])\s*[\w-]+)+", re.IGNORECASE),
    re.compile(r"(?<![\w@])@[A-Za-z0-9_.]{2,}"),  # @handle
)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?)?")


def free_text_contact_spans(text: str) -> list[tuple[int, int]]:
    """Offsets of contact-like passages in free text that has no stored entity spans (analysts'
    decision notes): phones, e-mails and handles found by :func:`scoring.extract.default_extractor`,
    plus any run of 5 or more digits (separators allowed; ISO dates excepted), ``x@y.z`` e-mail forms
    (also ``(at)``/``(dot)``) and ``@handles``. Deliberately generous: a note is read by people who
    may not see contacts, so a masked year is a smaller loss than a readable phone number.

    Args:
        text: the free text.

    Returns:
        ``(start, end)`` character offsets into ``text``, possibly overlapping.
    """
    spans: list[tuple[int, int]] = []
    with contextlib.suppress(Exception):  # a lexicon problem must not unmask notes: the patterns below still apply
        from scoring.extract import default_extractor

        x = default_extractor()
        spans.extend((e.start, e.end) for e in (*x.phones(text), *x.emails(text), *x.handles(text)))
    dates = [(m.start(), m.end()) for m in _ISO_DATE.finditer(text)]
    for rx in _NOTE_CONTACT_RES:
        for m in rx.finditer(text):
            if any(s <= m.start() and m.end() <= e for s, e in dates):
                continue
            spans.append((m.start(), m.end()))
    return spans


def mask_free_text(text: str | None) -> str:
    """``text`` with every contact-like passage masked (:func:`free_text_contact_spans`, :func:`mask_text`)."""
    if not text:
        return text or ""
    return mask_text(text, free_text_contact_spans(text))


# ---------------------------------------------------------------- queue -------------------------
@dataclass
class QueueFilters:
    """Queue filters; empty values do not filter.

    Attributes:
        status: a state of :data:`STATES`, or ``all``. Default ``new``.
        site, ad_type, band, category: exact matches (band ``low``/``medium``/``high``).
        date_from, date_to: first-seen date range, inclusive (UTC dates).
        q: text contained in the ad (case-insensitive).
        assigned: ``me`` (assigned to the caller), ``none`` (unassigned) or empty.
    """

    status: str = "new"
    site: str | None = None
    ad_type: str | None = None
    band: str | None = None
    category: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    q: str | None = None
    assigned: str | None = None

    def query_args(self) -> dict[str, str]:
        """Non-empty filters as query-string arguments."""
        out = {}
        for k, v in self.__dict__.items():
            if v not in (None, ""):
                out[k] = v.isoformat() if isinstance(v, date) else str(v)
        return out


def encode_cursor(priority: float, item_id: int) -> str:
    """Opaque keyset cursor for the row after (priority, id)."""
    return base64.urlsafe_b64encode(f"{priority!r}|{item_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, int]:
    """Inverse of :func:`encode_cursor`.

    Raises:
        BadInput: the cursor is malformed.
    """
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        p, i = raw.split("|")
        return float(p), int(i)
    except Exception as exc:
        raise BadInput(f"bad cursor {cursor!r}") from exc


@dataclass
class QueuePage:
    """A page of the queue: ``rows`` (dicts) and the cursor of the next page (None at the end)."""

    rows: list[dict[str, Any]]
    next_cursor: str | None
    filters: QueueFilters = field(default_factory=QueueFilters)


QUEUE_ORDER = ("highest priority first: priority = 1 − (1 − risk)(1 − network boost), the ad's own risk raised "
               "by its contact network (many ads sharing a contact, or one contact moving between cities); "
               "equal to the risk for ads in no network; ties: newest first")
"""How the queue is ordered, in words (shown on the queue page; :mod:`linking.risk` has the formula)."""


def queue_page(session: Session, filters: QueueFilters, *, limit: int = 50, cursor: str | None = None,
               user_id: int | None = None, bands: Bands | None = None, contact_access: bool = True) -> QueuePage:
    """One page of the queue, highest priority first (:data:`QUEUE_ORDER`), ties by newest review item.

    Each row has ``risk`` (the ad's own score) and ``priority`` (the risk raised by its contact
    network, :func:`linking.risk.linked_risk`; what the queue is sorted by).

    Keyset pagination: ``cursor`` (from the previous page) continues strictly after its row, so a
    page costs an index range scan whatever its depth. Titles have contacts masked. ``bands``:
    the thresholds the scores were banded with, used to seek the band filter by risk range.
    ``contact_access`` False (roles that may not reveal contacts): the text filter ``q`` only
    matches the ad text with its contacts masked, so that searching for candidate numbers cannot
    tell whether an ad holds one.

    Raises:
        BadInput: unknown status or malformed cursor.
    """
    if filters.status not in (*STATES, "all"):
        raise BadInput(f"unknown status {filters.status!r} (one of {', '.join(STATES)}, all)")
    stmt = (
        select(ReviewItem.id, ReviewItem.ad_id, ReviewItem.priority, ReviewItem.state, ReviewItem.assigned_to,
               Ad.site, Ad.ad_type, Ad.title, Ad.first_seen, Ad.location_raw, Score.band, Score.categories,
               Score.risk)
        .join(Ad, Ad.id == ReviewItem.ad_id)
        .join(Score, Score.id == ReviewItem.score_id)
        .order_by(ReviewItem.priority.desc(), ReviewItem.id.desc())
        .limit(limit + 1)
    )
    if filters.status != "all":
        stmt = stmt.where(ReviewItem.state == filters.status)
    if filters.site:
        stmt = stmt.where(Ad.site == filters.site)
    if filters.ad_type:
        stmt = stmt.where(Ad.ad_type == filters.ad_type)
    if filters.band:
        stmt = stmt.where(Score.band == filters.band)
        if bands is not None:  # a priority range lets the (state, priority) index seek to the band
            # priority (linked risk) >= risk, so only the lower bound of a band is a valid seek
            low, high = {"high": (bands.high, None), "medium": (bands.medium, None),
                         "low": (None, None)}.get(filters.band, (None, None))
            if low is not None:
                stmt = stmt.where(ReviewItem.priority >= low)
            if high is not None:
                stmt = stmt.where(ReviewItem.priority < high)
    if filters.category:
        stmt = stmt.where(exists().where(IndicatorHit.score_id == ReviewItem.score_id,
                                         IndicatorHit.category == filters.category))
    if filters.date_from:
        stmt = stmt.where(Ad.first_seen >= datetime.combine(filters.date_from, datetime.min.time(), UTC))
    if filters.date_to:
        stmt = stmt.where(Ad.first_seen < datetime.combine(filters.date_to + timedelta(days=1), datetime.min.time(), UTC))
    if filters.q:
        stmt = stmt.where(Ad.text.ilike(f"%{filters.q}%"))
    if filters.assigned == "me" and user_id is not None:
        stmt = stmt.where(ReviewItem.assigned_to == user_id)
    elif filters.assigned == "none":
        stmt = stmt.where(ReviewItem.assigned_to.is_(None))
    if filters.q and not contact_access:
        stmt = stmt.add_columns(Ad.text)
    pos = decode_cursor(cursor) if cursor else None
    rows: list[Any] = []
    while True:  # one round unless the masked-text check drops rows
        page_stmt = stmt
        if pos is not None:
            p, i = pos
            page_stmt = stmt.where(or_(ReviewItem.priority < p, and_(ReviewItem.priority == p, ReviewItem.id < i)))
        batch = session.execute(page_stmt).all()
        if not (filters.q and not contact_access):
            rows = list(batch)
            break
        needle = filters.q.lower()
        masks = contact_spans(session, [r.ad_id for r in batch])
        rows.extend(r for r in batch if needle in mask_text(r.text, masks.get(r.ad_id, [])).lower())
        if len(rows) > limit or len(batch) <= limit:
            break
        pos = (batch[-1].priority, batch[-1].id)
    more = len(rows) > limit
    rows = rows[:limit]
    spans = contact_spans(session, [r.ad_id for r in rows])
    users = _usernames(session, {r.assigned_to for r in rows if r.assigned_to})
    out = [{
        "ad_id": r.ad_id, "risk": round(r.risk, 4), "priority": round(r.priority, 4), "band": r.band, "status": r.state, "site": r.site,
        "ad_type": r.ad_type, "title": masked_title(r.title, spans.get(r.ad_id, [])), "city": r.location_raw,
        "first_seen": r.first_seen.isoformat() if r.first_seen else None, "categories": list(r.categories or []),
        "assigned_to": users.get(r.assigned_to) if r.assigned_to else None,
    } for r in rows]
    nxt = encode_cursor(rows[-1].priority, rows[-1].id) if more and rows else None
    return QueuePage(out, nxt, filters)


def _usernames(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(session.execute(select(AppUser.id, AppUser.username).where(AppUser.id.in_(ids))).tuples().all())


def status_counts(session: Session) -> dict[str, int]:
    """Number of review items per state (every state present, zero when empty)."""
    counts = dict(session.execute(select(ReviewItem.state, func.count()).group_by(ReviewItem.state)).tuples().all())
    return {s: int(counts.get(s, 0)) for s in STATES}


def filter_options(session: Session) -> dict[str, list[str]]:
    """Values for the queue's filter menus: sites, ad types, categories."""
    return {
        "sites": sorted(s for s in session.scalars(select(Ad.site).distinct()) if s),
        "ad_types": sorted(s for s in session.scalars(select(Ad.ad_type).distinct()) if s),
        "categories": sorted(s for s in session.scalars(select(IndicatorHit.category).distinct()) if s),
    }


def neighbours(session: Session, ad_id: int) -> tuple[int | None, int | None]:
    """The previous and next ad in the ``new`` queue around ``ad_id`` (by priority, then id)."""
    item = session.scalar(select(ReviewItem).where(ReviewItem.ad_id == ad_id))
    if item is None:
        first = session.scalar(select(ReviewItem.ad_id).where(ReviewItem.state == "new")
                               .order_by(ReviewItem.priority.desc(), ReviewItem.id.desc()).limit(1))
        return None, first
    p, i = item.priority, item.id
    nxt = session.scalar(
        select(ReviewItem.ad_id).where(ReviewItem.state == "new", ReviewItem.id != i,
                                       or_(ReviewItem.priority < p, and_(ReviewItem.priority == p, ReviewItem.id < i)))
        .order_by(ReviewItem.priority.desc(), ReviewItem.id.desc()).limit(1))
    prev = session.scalar(
        select(ReviewItem.ad_id).where(ReviewItem.state == "new", ReviewItem.id != i,
                                       or_(ReviewItem.priority > p, and_(ReviewItem.priority == p, ReviewItem.id > i)))
        .order_by(ReviewItem.priority.asc(), ReviewItem.id.asc()).limit(1))
    return prev, nxt


# ---------------------------------------------------------------- ad detail ---------------------
def _segments(text: str, hits: list[dict[str, Any]], contacts: list[tuple[int, int]], reveal: bool) -> list[dict[str, Any]]:
    """Split ``text`` at every hit and contact boundary: ``[{text, hits: [hit index...]}]``."""
    cuts = {0, len(text)}
    for h in hits:
        cuts.update((max(0, min(h["start"], len(text))), max(0, min(h["end"], len(text)))))
    for s, e in contacts:
        cuts.update((max(0, min(s, len(text))), max(0, min(e, len(text)))))
    bounds = sorted(cuts)
    out = []
    for a, b in pairwise(bounds):
        if a == b:
            continue
        piece = text[a:b]
        is_contact = any(s <= a and b <= e for s, e in contacts)
        if is_contact and not reveal:
            piece = mask_text(piece, [(0, len(piece))])
        covering = [k for k, h in enumerate(hits) if h["start"] <= a and b <= h["end"]]
        out.append({"text": piece, "hits": covering, "contact": is_contact,
                    "ends": [k for k in covering if hits[k]["end"] == b]})
    return out


def ad_detail(session: Session, ad_id: int, catalog: dict[str, dict[str, Any]], *, reveal: bool = False) -> dict[str, Any]:
    """Everything the ad page and ``GET /api/ads/{id}`` show.

    Contacts (phones, e-mails, handles, URLs) are masked in the text, the indicator passages, the
    entity list, linked ads and decision notes unless ``reveal`` (the caller checks the role and
    writes the audit event). A contact's keyed HMAC is only given with ``reveal``: with the public
    masked form (``+1******0147``) it would let anyone who knows or guesses the HMAC key test
    candidate numbers offline. ``network_id`` and ``cluster_id`` are the ad's contact network and
    template cluster (None when it has none, or is not linked yet).

    Raises:
        NotFound: no ad ``ad_id``.
    """
    ad = session.get(Ad, ad_id)
    if ad is None:
        raise NotFound(f"no ad with id {ad_id}")
    score = session.scalar(select(Score).where(Score.ad_id == ad_id).order_by(Score.id.desc()).limit(1))
    ents = session.execute(select(AdEntity, Entity).join(Entity, Entity.id == AdEntity.entity_id)
                           .where(AdEntity.ad_id == ad_id).order_by(AdEntity.start)).all()
    contacts = [(ae.start, ae.end) for ae, _ in ents if ae.type in CONTACT_ENTITY_TYPES]
    # a source's own hashed contacts (EMSCAD's #EMAIL_<sha256>#) are unkeyed hashes of guessable
    # values: masked like contacts (the export replaces them too)
    contacts += [m.span() for m in DATASET_CONTACT_TOKEN.finditer(ad.text or "")]
    contacts.sort()
    hits: list[dict[str, Any]] = []
    if score is not None:
        for h in session.scalars(select(IndicatorHit).where(IndicatorHit.score_id == score.id)
                                 .order_by(IndicatorHit.start, IndicatorHit.end)):
            info = catalog.get(h.indicator_id, {})
            hits.append({"indicator_id": h.indicator_id, "category": h.category, "label": category_label(h.category),
                         "start": h.start, "end": h.end, "weight": h.weight,
                         "text": h.text if reveal else mask_text(h.text, [(s - h.start, e - h.start) for s, e in contacts]),
                         "description": info.get("description", ""), "source": info.get("source", "")})
    entities = []
    seen: set[int] = set()
    for ae, ent in ents:
        if ent.id in seen:
            continue
        seen.add(ent.id)
        is_contact = ae.type in CONTACT_ENTITY_TYPES
        e = {"entity_id": ent.id, "type": ae.type, "masked": ent.masked, "contact": is_contact}
        if reveal or not is_contact:
            e["value"] = ent.value if ent.value is not None else "(purged)"
        if reveal:
            e["hmac"] = ent.value_hmac
        entities.append(e)
    text_for_api = ad.text if reveal else mask_text(ad.text, contacts)
    linked = linked_ads(session, ad_id)
    item = session.scalar(select(ReviewItem).where(ReviewItem.ad_id == ad_id))
    history = []
    if item is not None:
        users = _usernames(session, {d.user_id for d in session.scalars(select(Decision).where(Decision.review_item_id == item.id)) if d.user_id})
        for d in session.scalars(select(Decision).where(Decision.review_item_id == item.id).order_by(Decision.id)):
            reason, note = split_note(d.note)
            history.append({"id": d.id, "decision": d.decision, "reason": reason,
                            "note": note if reveal else mask_free_text(note),
                            "by": users.get(d.user_id or 0), "at": d.created_at.isoformat()})
    versions = version_history(session, ad_id, with_changes=reveal)
    explanation = dict(score.explanation or {}) if score else {}
    link = session.execute(select(AdLink.network_id, AdLink.cluster_id).where(AdLink.ad_id == ad_id)).first()
    return {
        "ad_id": ad.id, "url": ad.url, "canonical_url": ad.canonical_url, "site": ad.site, "ad_type": ad.ad_type,
        "title": ad.title if reveal else masked_title(ad.title, contacts), "text": text_for_api,
        "city": ad.location_raw, "posted_date": ad.posted_date, "fetched_at": ad.fetched_at,
        "first_seen": ad.first_seen.isoformat(), "last_seen": ad.last_seen.isoformat(), "status": ad.status,
        "review_status": item.state if item else ad.review_status,
        "assigned_to": _usernames(session, {item.assigned_to}).get(item.assigned_to) if item and item.assigned_to else None,
        "risk": round(score.risk, 4) if score else None, "band": score.band if score else None,
        "model_version": score.model_version if score else None, "categories": list(score.categories or []) if score else [],
        "explanation": explanation, "indicators": hits, "entities": entities, "linked_ads": linked,
        "versions": versions, "decisions": history, "revealed": reveal,
        "network_id": link[0] if link else None, "cluster_id": link[1] if link else None,
        "segments": _segments(ad.text, hits, contacts, reveal),
    }


def version_history(session: Session, ad_id: int, *, with_changes: bool = False, max_lines: int = 200) -> list[dict[str, Any]]:
    """Versions of an ad, newest first: ``{version, seen_at, content_sha256, chars, changes}``;
    ``content_sha256`` is ``None`` unless ``with_changes`` (it could confirm a guessed contact).

    ``changes`` (only with ``with_changes``, i.e. after an audited reveal, because older versions
    keep their contacts unmasked) is a unified line diff from the previous version, at most
    ``max_lines`` lines; otherwise an empty list.
    """
    rows = list(session.scalars(select(AdVersion).where(AdVersion.ad_id == ad_id).order_by(AdVersion.version)))
    out = []
    for i, v in enumerate(rows):
        changes: list[str] = []
        if with_changes and i > 0:
            changes = list(difflib.unified_diff(rows[i - 1].text.splitlines(), v.text.splitlines(),
                                                f"version {rows[i - 1].version}", f"version {v.version}", lineterm="", n=1))
            changes = changes[:max_lines]
        # the content hash is an unkeyed SHA-256 of fields that include the raw contact: with the
        # masked text beside it a guessed number can be confirmed, so it is shown only with changes
        out.append({"version": v.version, "seen_at": v.seen_at.isoformat(),
                    "content_sha256": v.content_sha256 if with_changes else None,
                    "chars": len(v.text), "changes": changes})
    return out[::-1]


def linked_ads(session: Session, ad_id: int, limit: int = 50) -> list[dict[str, Any]]:
    """Other ads that share a contact entity (same keyed HMAC) with ``ad_id``: site, city, dates and
    the masked contact that links them; newest first, at most ``limit``."""
    mine = select(AdEntity.entity_id).where(AdEntity.ad_id == ad_id, AdEntity.type.in_(CONTACT_ENTITY_TYPES))
    rows = session.execute(
        select(Ad.id, Ad.site, Ad.title, Ad.location_raw, Ad.first_seen, Ad.posted_date, Entity.masked, Entity.type)
        .join(AdEntity, AdEntity.ad_id == Ad.id).join(Entity, Entity.id == AdEntity.entity_id)
        .where(AdEntity.entity_id.in_(mine), Ad.id != ad_id)
        .order_by(Ad.first_seen.desc(), Ad.id.desc()).limit(limit * 4)
    ).all()
    spans = contact_spans(session, list({r[0] for r in rows}))
    out: dict[int, dict[str, Any]] = {}
    for aid, site, title, city, first_seen, posted, masked, type_ in rows:
        entry = out.setdefault(aid, {"ad_id": aid, "site": site, "title": masked_title(title, spans.get(aid, [])),
                                     "city": city, "first_seen": first_seen.isoformat(), "posted_date": posted, "via": []})
        if masked not in entry["via"]:
            entry["via"].append(masked)
    return list(out.values())[:limit]


# ---------------------------------------------------------------- decisions ---------------------
def join_note(reason: str, note: str | None) -> str:
    """Store a reason code with the note in ``decision.note`` (``[reason] note``)."""
    return f"[{reason}] {note or ''}".rstrip()


def split_note(stored: str | None) -> tuple[str | None, str]:
    """Inverse of :func:`join_note`: ``(reason code or None, note)``."""
    if stored and stored.startswith("[") and "]" in stored:
        reason, _, rest = stored[1:].partition("]")
        return reason, rest.strip()
    return None, stored or ""


def _item_for(session: Session, ad_id: int) -> ReviewItem:
    item = session.scalar(select(ReviewItem).where(ReviewItem.ad_id == ad_id))
    if item is not None:
        return item
    ad = session.get(Ad, ad_id)
    if ad is None:
        raise NotFound(f"no ad with id {ad_id}")
    score = session.scalar(select(Score).where(Score.ad_id == ad_id).order_by(Score.id.desc()).limit(1))
    item = ReviewItem(ad_id=ad_id, score_id=score.id if score else None, state=ad.review_status or "new",
                      priority=score.risk if score else 0.0)
    session.add(item)
    session.flush()
    return item


def decide(session: Session, ad_id: int, user: AppUser, decision: str, reason: str, note: str | None = None) -> Decision:
    """Record ``user``'s decision on ad ``ad_id``, set the review state, and audit it.

    Args:
        decision: a key of :data:`DECISIONS` (``confirm``, ``dismiss``, ``escalate``, ``needs_info``).
        reason: a key of :data:`REASON_CODES`.
        note: free text (at most 2,000 characters).

    Raises:
        BadInput: unknown decision or reason, or note too long.
        NotFound: no ad ``ad_id``.
    """
    if decision not in DECISIONS:
        raise BadInput(f"unknown decision {decision!r} (one of {', '.join(DECISIONS)})")
    if reason not in REASON_CODES:
        raise BadInput(f"unknown reason code {reason!r} (one of {', '.join(REASON_CODES)})")
    if note and len(note) > 2000:
        raise BadInput("note longer than 2,000 characters")
    item = _item_for(session, ad_id)
    before = item.state
    state = DECISIONS[decision]
    row = Decision(review_item_id=item.id, user_id=user.id, decision=state, note=join_note(reason, note), created_at=utcnow())
    session.add(row)
    item.state = state
    item.updated_at = utcnow()
    session.execute(update(Ad).where(Ad.id == ad_id).values(review_status=state))
    session.flush()
    audit(session, user.username, "decision", "ad", str(ad_id),
          {"decision": state, "reason": reason, "from": before, "decision_id": row.id})
    return row


def undo_last(session: Session, user: AppUser) -> dict[str, Any] | None:
    """Undo ``user``'s newest decision that is not undone yet: the item returns to the state of its
    previous standing decision (or ``new``). Recorded as a decision ``undo`` and audited.

    Returns:
        ``{"ad_id", "state", "undone"}`` or None when there is nothing to undo.
    """
    mine = list(session.scalars(select(Decision).where(Decision.user_id == user.id).order_by(Decision.id.desc()).limit(200)))
    undone = {int(d.note.split("#", 1)[1]) for d in mine if d.decision == "undo" and d.note and "#" in d.note}
    target = next((d for d in mine if d.decision != "undo" and d.id not in undone), None)
    if target is None:
        return None
    item = session.get(ReviewItem, target.review_item_id)
    assert item is not None
    all_undone = {int(d.note.split("#", 1)[1]) for d in session.scalars(
        select(Decision).where(Decision.review_item_id == item.id, Decision.decision == "undo")) if d.note and "#" in d.note}
    all_undone.add(target.id)
    prior = session.scalar(select(Decision.decision).where(
        Decision.review_item_id == item.id, Decision.decision != "undo", Decision.id < target.id,
        Decision.id.not_in(all_undone)).order_by(Decision.id.desc()).limit(1))
    state = prior or "new"
    session.add(Decision(review_item_id=item.id, user_id=user.id, decision="undo", note=f"undoes #{target.id}", created_at=utcnow()))
    item.state = state
    item.updated_at = utcnow()
    session.execute(update(Ad).where(Ad.id == item.ad_id).values(review_status=state))
    session.flush()
    audit(session, user.username, "undo_decision", "ad", str(item.ad_id), {"undone": target.id, "state": state})
    return {"ad_id": item.ad_id, "state": state, "undone": target.id}


def claim(session: Session, ad_id: int, actor: AppUser, assignee: AppUser | None = None) -> ReviewItem:
    """Assign ad ``ad_id``'s review item to ``assignee`` (default: the actor); audited as ``assign``.

    Raises:
        NotFound: no ad ``ad_id``.
    """
    item = _item_for(session, ad_id)
    to = assignee or actor
    item.assigned_to = to.id
    item.updated_at = utcnow()
    session.flush()
    audit(session, actor.username, "assign", "ad", str(ad_id), {"assignee": to.username})
    return item


def training_labels(session: Session) -> list[dict[str, Any]]:
    """Decided ads as training labels: ``{ad_id, label (1 confirmed/escalated, 0 dismissed),
    state, reason, decided_at, ad_type, score_id}``; ``needs_info`` and undecided items are left out."""
    out = []
    rows = session.execute(select(ReviewItem, Ad.ad_type).join(Ad, Ad.id == ReviewItem.ad_id)
                           .where(ReviewItem.state.in_(("confirmed", "escalated", "dismissed"))).order_by(ReviewItem.ad_id))
    for item, ad_type in rows:
        last = session.scalar(select(Decision).where(Decision.review_item_id == item.id, Decision.decision == item.state)
                              .order_by(Decision.id.desc()).limit(1))
        reason = split_note(last.note)[0] if last else None
        out.append({"ad_id": item.ad_id, "label": 0 if item.state == "dismissed" else 1, "state": item.state,
                    "reason": reason, "decided_at": item.updated_at.isoformat(), "ad_type": ad_type,
                    "score_id": item.score_id})
    return out


# ---------------------------------------------------------------- audit -------------------------
def audit_page(session: Session, *, actor: str | None = None, action: str | None = None, target_id: str | None = None,
               date_from: date | None = None, date_to: date | None = None, before_id: int | None = None,
               limit: int = 100) -> tuple[list[dict[str, Any]], int | None]:
    """Audit events, newest first, filtered; keyset-paginated by id.

    Returns:
        ``(events, next before_id or None)``.
    """
    stmt = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit + 1)
    if actor:
        stmt = stmt.where(AuditEvent.actor == actor)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    if target_id:
        stmt = stmt.where(AuditEvent.target_id == target_id)
    if date_from:
        stmt = stmt.where(AuditEvent.at >= datetime.combine(date_from, datetime.min.time(), UTC))
    if date_to:
        stmt = stmt.where(AuditEvent.at < datetime.combine(date_to + timedelta(days=1), datetime.min.time(), UTC))
    if before_id:
        stmt = stmt.where(AuditEvent.id < before_id)
    rows = list(session.scalars(stmt))
    more = len(rows) > limit
    rows = rows[:limit]
    events = [{"id": e.id, "at": e.at.isoformat(), "actor": e.actor, "action": e.action, "target_type": e.target_type,
               "target_id": e.target_id, "details": {k: v for k, v in (e.details or {}).items() if k != "token_sha256"}}
              for e in rows]
    return events, (rows[-1].id if more and rows else None)


def audit_actions(session: Session) -> list[str]:
    """Distinct audit actions (for the filter menu)."""
    return sorted(a for a in session.scalars(select(AuditEvent.action).distinct()) if a)


# ---------------------------------------------------------------- dashboard ---------------------
def dashboard(session: Session, days: int = 30, now: datetime | None = None) -> dict[str, Any]:
    """Figures for the dashboard over the last ``days`` days (UTC): flags per day per category and
    per site (flag date = when the queued ad's current score was computed), queue size per state, decisions per analyst."""
    now = now or utcnow()
    start = (now - timedelta(days=days - 1)).date()
    day_list = [start + timedelta(days=i) for i in range(days)]
    by_cat: dict[str, Counter[date]] = defaultdict(Counter)
    by_site: dict[str, Counter[date]] = defaultdict(Counter)
    total: Counter[date] = Counter()
    since = datetime.combine(start, datetime.min.time(), UTC)
    rows = session.execute(select(Score.scored_at, Ad.site, Score.categories).select_from(ReviewItem)
                           .join(Ad, Ad.id == ReviewItem.ad_id).join(Score, Score.id == ReviewItem.score_id)
                           .where(Score.scored_at >= since))
    for created, site, cats in rows:
        d = created.date()
        total[d] += 1
        by_site[site][d] += 1
        for c in set(cats or []):
            by_cat[c][d] += 1
    per_user = Counter(dict(session.execute(
        select(AppUser.username, func.count(Decision.id)).join(Decision, Decision.user_id == AppUser.id)
        .where(Decision.created_at >= since, Decision.decision != "undo").group_by(AppUser.username)).tuples().all()))

    def series(counter: Counter[date]) -> list[tuple[str, int]]:
        return [(d.isoformat(), int(counter.get(d, 0))) for d in day_list]

    return {
        "days": days, "start": start.isoformat(),
        "total": series(total),
        "by_category": sorted(((k, series(v), sum(v.values())) for k, v in by_cat.items()), key=lambda x: (-x[2], x[0])),
        "by_site": sorted(((k, series(v), sum(v.values())) for k, v in by_site.items()), key=lambda x: (-x[2], x[0])),
        "queue": status_counts(session),
        "decisions_per_analyst": per_user.most_common(),
    }

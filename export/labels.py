"""Dataset labels from the analysts' review decisions (``decision`` rows of the review app).

An ad's label is its review state after the analysts' standing decisions (``review_item.state``, the
state the review app shows): ``confirmed`` or ``escalated`` -> 1, ``dismissed`` -> 0, ``needs_info``
-> no binary label. A decision undone in the app (a later ``undo`` decision naming it) does not count.
Each reviewer counts once, with their newest standing decision. ``agreement`` is the share of those
reviewers whose newest decision gives the same binary label as the ad's label (for ``needs_info``:
the same state). Decision notes are free text and never exported; reason codes are (a fixed list,
``webapp.services.REASON_CODES``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Decision, ReviewItem

DECIDED_STATES = ("confirmed", "escalated", "dismissed", "needs_info")
"""Review states that carry a decision."""

BINARY = {"confirmed": 1, "escalated": 1, "dismissed": 0}
"""Review state -> binary label (1: trafficking indicators confirmed by an analyst)."""

_CHUNK = 500


@dataclass(slots=True)
class Label:
    """The label of one ad.

    Attributes:
        state: the review state (:data:`DECIDED_STATES`).
        label: 1, 0 or None (:data:`BINARY`).
        n_reviewers: distinct analysts with a standing decision on the ad.
        agreement: share (0-1) of those analysts whose newest decision agrees with ``label``
            (module docstring); 1.0 for a single reviewer.
        reasons: the reason codes of the standing decisions that agree, sorted, distinct.
    """

    state: str
    label: int | None
    n_reviewers: int
    agreement: float
    reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The exported form (``labels`` column)."""
        return {"label": self.label, "state": self.state, "n_reviewers": self.n_reviewers,
                "agreement": round(self.agreement, 4), "reasons": list(self.reasons)}


def _reason(note: str | None) -> str | None:
    # webapp.services.join_note stores "[reason] note"; only the code is kept
    if note and note.startswith("[") and "]" in note:
        return note[1:].split("]", 1)[0] or None
    return None


def ad_labels(session: Session, ad_ids: Sequence[int] | None = None) -> dict[int, Label]:
    """Labels of decided ads (``ad_ids``, or all); ads without a standing decision are absent.

    Args:
        session: open Session (read only).
        ad_ids: the ads wanted, or None for every ad.

    Returns:
        ``{ad id: Label}``.
    """
    stmt = select(ReviewItem.id, ReviewItem.ad_id, ReviewItem.state).where(ReviewItem.state.in_(DECIDED_STATES))
    items: dict[int, tuple[int, str]] = {}
    if ad_ids is None:
        items = {i: (a, s) for i, a, s in session.execute(stmt)}
    else:
        ids = sorted(set(ad_ids))
        for k in range(0, len(ids), _CHUNK):
            items.update({i: (a, s) for i, a, s in session.execute(stmt.where(ReviewItem.ad_id.in_(ids[k:k + _CHUNK])))})
    decisions: dict[int, list[tuple[int, int | None, str, str | None]]] = {}
    item_ids = sorted(items)
    for k in range(0, len(item_ids), _CHUNK):
        for did, item_id, user_id, decision, note in session.execute(
            select(Decision.id, Decision.review_item_id, Decision.user_id, Decision.decision, Decision.note)
            .where(Decision.review_item_id.in_(item_ids[k:k + _CHUNK])).order_by(Decision.id)
        ):
            decisions.setdefault(item_id, []).append((did, user_id, decision, note))
    out: dict[int, Label] = {}
    for item_id, (ad_id, state) in items.items():
        rows = decisions.get(item_id, [])
        undone = {int(n.rsplit("#", 1)[1]) for _, _, d, n in rows
                  if d == "undo" and n and "#" in n and n.rsplit("#", 1)[1].isdigit()}
        newest: dict[int | None, tuple[str, str | None]] = {}
        for did, user_id, decision, note in rows:
            if decision != "undo" and did not in undone:
                newest[user_id] = (decision, _reason(note))
        if not newest:
            continue
        label = BINARY.get(state)
        agree = [(d, r) for d, r in newest.values()
                 if (BINARY.get(d) == label if label is not None else d == state)]
        out[ad_id] = Label(state=state, label=label, n_reviewers=len(newest),
                           agreement=len(agree) / len(newest),
                           reasons=sorted({r for _, r in agree if r}))
    return out

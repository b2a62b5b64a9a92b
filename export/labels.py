"""Dataset labels from the analysts' review decisions (``decision`` rows of the review app).

The rule is the one ``adwatch train --from-db`` uses (:func:`cli.modeling.decision_records`): a
decision undone in the app (a later ``undo`` decision whose note names it, ``undoes #<id>``) does not
count; each reviewer counts once, with their newest standing decision; ``confirm`` and ``escalate``
are a vote for 1, ``dismiss`` a vote for 0, ``needs_info`` no vote; the label is the majority of the
votes (:func:`scoring.datasets.majority_label`), and a tie gives no label. ``agreement`` is the share
of the votes that go with the majority (0.5 for a tie; None without votes). ``state`` is the review
state the app shows (``review_item.state``, set by the newest decision), which can differ from the
label: confirm by one analyst then dismiss by another shows ``dismissed`` but has no label (a tie).
Decision notes are free text and never exported; reason codes are (a fixed list,
``webapp.services.REASON_CODES``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from scoring.datasets import DECISION_LABELS, majority_label, standing_decisions
from storage.models import Decision, ReviewItem

DECIDED_STATES = ("confirmed", "escalated", "dismissed", "needs_info")
"""Review states that carry a decision."""

BINARY = DECISION_LABELS
"""Decision (``decision.decision``) -> vote (1: trafficking indicators confirmed by an analyst):
:data:`scoring.datasets.DECISION_LABELS`, shared with ``adwatch train --from-db``."""

_CHUNK = 500


@dataclass(slots=True)
class Label:
    """The label of one ad.

    Attributes:
        state: the review state the app shows (normally one of :data:`DECIDED_STATES`).
        label: 1, 0 or None: majority of the votes, None for a tie or without votes.
        n_reviewers: distinct analysts with a standing decision on the ad (``needs_info`` included).
        n_votes: those of them whose decision is a 0/1 vote.
        agreement: share (0-1) of the votes that go with the majority (1.0 when unanimous, 0.5 for
            a tie), None without votes.
        reasons: distinct reason codes, sorted, of the standing decisions that go with the label
            (every vote's for a tie; the ``needs_info`` decisions' without votes).
    """

    state: str
    label: int | None
    n_reviewers: int
    n_votes: int
    agreement: float | None
    reasons: list[str] = field(default_factory=list)

    @property
    def tie(self) -> bool:
        """Reviewers voted, but as many for 1 as for 0."""
        return self.label is None and self.n_votes > 0

    def as_dict(self) -> dict[str, Any]:
        """The exported form (``labels`` column)."""
        return {"label": self.label, "state": self.state, "n_reviewers": self.n_reviewers, "n_votes": self.n_votes,
                "agreement": round(self.agreement, 4) if self.agreement is not None else None,
                "reasons": list(self.reasons)}


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
    # every item with a decision, whatever its state (as train --from-db reads them)
    stmt = select(ReviewItem.id, ReviewItem.ad_id, ReviewItem.state).where(
        ReviewItem.id.in_(select(Decision.review_item_id).distinct()))
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
        newest = {user: (rows[i][2], _reason(rows[i][3])) for user, i in standing_decisions(rows).items()}
        if not newest:
            continue
        votes = [(BINARY[d], r) for d, r in newest.values() if d in BINARY]
        label = majority_label([v for v, _ in votes])
        if label is not None:
            agree = [r for v, r in votes if v == label]
        elif votes:  # a tie
            agree = [r for _, r in votes]
        else:
            agree = [r for _, r in newest.values()]
        n_major = max(sum(1 for v, _ in votes if v == 1), sum(1 for v, _ in votes if v == 0))
        out[ad_id] = Label(state=state, label=label, n_reviewers=len(newest), n_votes=len(votes),
                           agreement=n_major / len(votes) if votes else None,
                           reasons=sorted({r for r in agree if r}))
    return out

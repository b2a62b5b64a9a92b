"""Plain data types that flow through scoring. Scoring never imports crawler or storage."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

AD_TYPES = ("job", "escort", "other")


@dataclass(slots=True)
class Ad:
    """One advertisement to score.

    Attributes:
        id: caller's identifier (a URL, a database id or an input row id); echoed in the Score.
        text: the text to score. Every offset in the Score is a character offset into this string.
        ad_type: ``"job"``, ``"escort"``, ``"other"`` or ``None`` (inferred by the scorer).
        lang: ISO 639-1 code or ``None`` (detected by the scorer).
        metadata: optional structured fields, e.g. EMSCAD columns (``has_company_logo``,
            ``has_questions``, ``salary_range``, ``telecommuting``, ``employment_type``,
            ``company_profile``) or crawled ones (``employer``, ``salary_min``).
    """

    id: str
    text: str
    ad_type: str | None = None
    lang: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True, frozen=True)
class IndicatorHit:
    """One indicator matched in an ad's text.

    Attributes:
        id: indicator id from ``config/indicators/*.yml`` (e.g. ``job.fee.placement``).
        category: indicator category (e.g. ``recruitment_fee``, ``new_in_town``).
        start: start character offset into ``Ad.text`` (inclusive).
        end: end character offset into ``Ad.text`` (exclusive).
        text: ``Ad.text[start:end]``.
        weight: the indicator's weight, a number in (0, 1]: how strongly it alone suggests risk.
    """

    id: str
    category: str
    start: int
    end: int
    text: str
    weight: float


@dataclass(slots=True, frozen=True)
class Entity:
    """A contact or other entity found in an ad.

    Attributes:
        type: ``"phone"``, ``"email"``, ``"handle"``, ``"age"``, ``"price"``...
        value: normalised value (E.164 for phones, lower-case address for e-mails).
        start: start character offset into ``Ad.text``.
        end: end character offset into ``Ad.text``.
        text: ``Ad.text[start:end]`` as written in the ad.
    """

    type: str
    value: str
    start: int
    end: int
    text: str


@dataclass(slots=True)
class Score:
    """The scorer's verdict on one ad.

    Attributes:
        ad_id: ``Ad.id``.
        ad_type: the ad type used (given or inferred).
        lang: the language used (given or detected).
        risk: risk of trafficking-related deception or exploitation, in [0, 1]. For job ads a
            calibrated model probability raised by rule indicators; for escort ads an
            indicator-based score (not calibrated: no public labels exist).
        band: ``"low"``, ``"medium"`` or ``"high"`` by the thresholds in ``config.settings.Bands``.
        model_version: ``<name>-<version>`` of the model used, or ``"rules-only"``.
        indicators: rule hits with offsets into ``Ad.text``.
        entities: extracted entities with offsets into ``Ad.text``.
        explanation: ``{"model_probability": float | None, "rule_risk": float,
            "top_features": [[feature, contribution], ...], "categories": [str, ...],
            "ad_type_inferred": bool, "lang_detected": bool}`` (the last two: whether the ad type
            was inferred from the wording and the language detected, rather than given).
    """

    ad_id: str
    ad_type: str
    lang: str | None
    risk: float
    band: str
    model_version: str
    indicators: list[IndicatorHit] = field(default_factory=list)
    entities: list[Entity] = field(default_factory=list)
    explanation: dict[str, Any] = field(default_factory=dict)

    @property
    def categories(self) -> list[str]:
        """Sorted distinct indicator categories."""
        return sorted({h.category for h in self.indicators})

    @property
    def flagged(self) -> bool:
        """True when the band is medium or high (the ad enters the analyst queue)."""
        return self.band in ("medium", "high")

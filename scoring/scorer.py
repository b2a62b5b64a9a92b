"""The one scoring entry point: ``Scorer.score(ad) -> Score``.

Risk (a number in [0, 1]) combines two sources in a documented, monotone way:

* ``rule_risk = 1 - prod_c (1 - w_c)`` over the indicator categories ``c`` found in the ad, where
  ``w_c`` is the largest weight of that category's hits (weights come from
  ``config/indicators/*.yml``, each citing its source). A category counts once however often it
  matches: repetition is not extra evidence.
* Job ads: ``risk = 1 - (1 - p) * (1 - rule_risk)`` where ``p`` is the calibrated probability of
  the job-ad model (``models/<name>-<version>``). Adding an indicator or raising ``p`` never lowers
  the risk. Escort and other ads: ``risk = rule_risk`` (no public labels exist to train or
  calibrate a model for them, so their risk is an indicator score, not a probability).

Bands come from ``config.settings.Bands``. When no model artifact is installed the scorer falls back
to rules only, logs a warning saying how to build the model, and reports ``model_version =
"rules-only"``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path

from config.settings import AppSettings, get_settings
from scoring.rules import RuleEngine
from scoring.types import Ad, IndicatorHit, Score

log = logging.getLogger(__name__)

RULES_ONLY = "rules-only"


def rule_risk(hits: Iterable[IndicatorHit]) -> float:
    """Noisy-OR of the strongest weight per category, in [0, 1] (0 when there are no hits)."""
    best: dict[str, float] = {}
    for h in hits:
        best[h.category] = max(best.get(h.category, 0.0), float(h.weight))
    keep = 1.0
    for w in best.values():
        keep *= 1.0 - min(max(w, 0.0), 1.0)
    return 1.0 - keep


def combine(model_probability: float | None, rules: float) -> float:
    """Monotone combination ``1 - (1 - p)(1 - r)``; with no model probability, ``r``."""
    if model_probability is None:
        return rules
    p = min(max(float(model_probability), 0.0), 1.0)
    return 1.0 - (1.0 - p) * (1.0 - rules)


SHIPPED_MODEL_FAMILY = "job-risk"
"""Folder-name prefix of the models ``make model`` builds (``job-risk-<major>.<minor>.<patch>``)."""

_VERSIONED = re.compile(r"^(?P<family>.+)-(?P<version>\d+(?:\.\d+)*)$")


def model_dir_key(folder: Path) -> tuple[int, int, tuple[int, ...], str]:
    """Sort key of a model folder: shipped family first, then any ``<name>-<version>``, then other
    names; within each, by numeric version (``0.10.0`` after ``0.9.0``), then name."""
    m = _VERSIONED.match(folder.name)
    if not m:
        return (0, 0, (), folder.name)
    version = tuple(int(x) for x in m.group("version").split("."))
    return (1, int(m.group("family") == SHIPPED_MODEL_FAMILY), version, folder.name)


def find_model_dir(models_dir: Path, name: str | None = None) -> Path | None:
    """Return the model folder to load, or None.

    ``models_dir/name`` when ``name`` is given (``ADWATCH_MODEL_NAME``). Otherwise the highest
    version of the shipped family (``job-risk-<version>``, by numeric version), or, without one,
    the highest ``<name>-<version>`` folder, or the last other name: a model you train into the
    same folder under another name is loaded only when you name it (a new user's ``--name mixed``
    silently replaced the shipped model, and ``job-risk-0.10.0`` sorted before ``0.9.0``).
    """
    if name:
        path = models_dir / name
        return path if (path / "model.skops").is_file() else None
    found = sorted((p.parent for p in models_dir.glob("*/model.skops")), key=model_dir_key)
    return found[-1] if found else None


class Scorer:
    """Scores ads with the rule engine and the job-ad model.

    Args:
        settings: application settings (default: :func:`config.settings.get_settings`).
        model_dir: model folder to load (default: ``settings.model_name`` or the newest in
            ``settings.models_dir``). Missing model: rules only, with a warning.
        region: default phone region (ISO 3166-1 alpha-2) for contacts written without a country
            code (default: ``settings.default_region``).
        explain_top: how many model features to keep in each explanation.

    Raises:
        scoring.model.ModelError: a model folder exists but its artifact cannot be loaded.
    """

    def __init__(
        self, settings: AppSettings | None = None, model_dir: Path | None = None,
        region: str | None = None, explain_top: int = 5,
    ) -> None:
        self.settings = settings or get_settings()
        self.region = (region or self.settings.default_region).upper()
        self.rules = RuleEngine(self.settings.indicators_dir, default_region=self.region)
        self.explain_top = explain_top
        path = model_dir or find_model_dir(self.settings.models_dir, self.settings.model_name)
        self.model = None
        if path is None:
            log.warning(
                "no job-ad model found in %s; scoring with rules only (run `make model` to build it)",
                self.settings.models_dir,
            )
        else:
            from scoring.model import load_model

            self.model = load_model(path)
        self.model_version = self.model.version if self.model is not None else RULES_ONLY

    def score(self, ad: Ad) -> Score:
        """Score one ad. See :meth:`score_many`."""
        return next(self.score_many([ad]))

    def score_many(self, ads: Iterable[Ad], batch_size: int = 64) -> Iterator[Score]:
        """Score ads lazily, in input order, ``batch_size`` at a time (constant memory).

        Args:
            ads: the ads; an ad with ``ad_type=None`` gets an inferred type.
            batch_size: ads per spaCy ``nlp.pipe`` batch and model call.

        Yields:
            One :class:`Score` per ad, offsets into ``ad.text``.
        """
        it = iter(ads)
        while batch := list(islice(it, batch_size)):
            yield from self._score_batch(batch)

    def _score_batch(self, batch: list[Ad]) -> list[Score]:
        details = list(
            self.rules.analyze_detailed(((ad.text, ad.ad_type, ad.lang) for ad in batch), region=self.region)
        )
        types = [d.ad_type for d in details]
        analyzed = [(d.indicators, d.entities) for d in details]
        probs: dict[int, float] = {}
        tops: dict[int, list[tuple[str, float]]] = {}
        job_idx = [i for i, t in enumerate(types) if t == "job"]
        if self.model is not None and job_idx:
            texts, metadata = [batch[i].text for i in job_idx], [batch[i].metadata for i in job_idx]
            # one feature transform for the batch, shared by the probability and the explanation
            p, explained = self.model.predict_explain(texts, metadata, k=self.explain_top)
            probs = {i: float(v) for i, v in zip(job_idx, p)}
            tops = dict(zip(job_idx, explained))
        out = []
        for i, (ad, ad_type, (hits, entities)) in enumerate(zip(batch, types, analyzed)):
            r = rule_risk(hits)
            p = probs.get(i)
            risk = combine(p, r)
            band = self.settings.bands.band(risk)
            top: list[list[object]] = []
            if p is not None and self.model is not None:
                top = [[f, round(float(w), 4)] for f, w in tops[i]]
            out.append(
                Score(
                    ad_id=ad.id, ad_type=ad_type, lang=details[i].lang, risk=risk, band=band,
                    model_version=self.model_version if p is not None else RULES_ONLY,
                    indicators=hits, entities=entities,
                    explanation={
                        "model_probability": None if p is None else round(p, 4), "rule_risk": round(r, 4), "top_features": top,
                        "categories": sorted({h.category for h in hits}),
                        # the ad type decides which indicators apply: say when it was guessed
                        "ad_type_inferred": details[i].ad_type_inferred,
                        "lang_detected": details[i].lang_detected,
                    },
                )
            )
        return out

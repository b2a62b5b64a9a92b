"""An added indicator never lowers a job ad's risk, with the shipped model and real ad texts.

A new user appended "Applicants must pay a registration fee of $150 before the interview." to a
data-entry ad and its risk fell from 0.91 to 0.88: the model read the sentence and its probability
dropped by more than the rule risk rose. The model now never sees sentences holding an indicator
(scoring.features.IndicatorSentenceMask), so appending one leaves its probability unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scoring.features import mask_indicator_sentences
from scoring.model import clean_text
from scoring.scorer import Scorer
from scoring.types import Ad

ROOT = Path(__file__).resolve().parents[2]

# (sentence, the indicator category it must add)
ADDED = [
    ("Applicants must pay a registration fee of $150 before the interview.", "recruitment_fee"),
    ("Please send a copy of your passport with your application.", "document_request"),
    ("Work abroad in Dubai, visa arranged.", "work_abroad"),
    ("Contact us on WhatsApp only.", "messaging_contact"),
    ("Free accommodation is provided for all workers.", "housing_provided"),
    ("Flight tickets are paid by the company.", "travel_provided"),
    ("No experience needed.", "no_requirements"),
    ("Urgent hiring, limited positions.", "urgency"),
]

OWN = [  # fictional ads (the trial's cases and plain ones)
    "Data entry clerk needed, work from home, earn $900 weekly. Email your CV to jobs@example.org.",
    "We are hiring a registered nurse for our cardiology ward. Two years of acute care experience required.",
    "Warehouse operatives for day and night shifts in a busy distribution centre",
    "Customer service representative needed. Flexible hours, weekly pay, apply by calling (415) 555-0132!",
    "Marketing manager for a software company in Athens. Fluent Greek and English",
]


def _base_ads() -> list[str]:
    rows = (ROOT / "data/difraud-job-scams/job_scams_validation.jsonl").read_text(encoding="utf-8").splitlines()
    texts = [json.loads(r) for r in rows]
    scams = [t["text"] for t in texts if int(t["label"]) == 1][:8]
    legit = [t["text"] for t in texts if int(t["label"]) == 0][:12]
    return OWN + scams + legit


@pytest.fixture(scope="module")
def scorer() -> Scorer:
    model_dir = max(p.parent for p in (ROOT / "models").glob("job-risk-*/model.skops"))
    return Scorer(model_dir=model_dir)


def test_masking_removes_exactly_the_indicator_sentences() -> None:
    text = clean_text("Data entry clerk wanted for our office. Applicants must pay a registration fee of $150.\n"
                      "Send a copy of your passport.\nWe offer training.")
    assert mask_indicator_sentences([text]) == ["Data entry clerk wanted for our office.   We offer training."]
    plain = "Warehouse operatives for day and night shifts."
    assert mask_indicator_sentences([plain]) == [plain]


@pytest.mark.parametrize("joiner", ["\n", " "])
def test_appending_an_indicator_sentence_never_lowers_job_risk(scorer: Scorer, joiner: str) -> None:
    assert scorer.model is not None
    bases = [t for t in _base_ads() if joiner == "\n" or t.rstrip().endswith((".", "!", "?"))]
    assert len(bases) >= 10
    before = {t: s for t, s in zip(bases, scorer.score_many(Ad(str(i), t, "job") for i, t in enumerate(bases)),
                                   strict=True)}
    pairs = [(t, t.rstrip() + joiner + sentence, category) for t in bases for sentence, category in ADDED]
    after = list(scorer.score_many(Ad(str(i), longer, "job") for i, (_, longer, _) in enumerate(pairs)))
    raised = 0
    for (base, longer, category), score in zip(pairs, after, strict=True):
        old = before[base]
        assert category in score.explanation["categories"], (category, longer[-80:])
        # the model reads neither version's indicator sentence: same probability ...
        assert score.explanation["model_probability"] == pytest.approx(old.explanation["model_probability"],
                                                                       abs=1e-4), longer[-120:]
        # ... so the risk can only rise
        assert score.risk >= old.risk - 1e-9, (old.risk, score.risk, longer[-120:])
        if category not in old.explanation["categories"] and old.risk < 0.999:  # a new category adds risk
            assert score.risk > old.risk + 1e-6, (old.risk, score.risk, longer[-120:])
            raised += 1
    assert raised >= len(pairs) // 2

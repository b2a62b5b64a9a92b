"""An added indicator never lowers a job ad's risk, with the shipped model and real ad texts.

A new user appended "Applicants must pay a registration fee of $150 before the interview." to a
data-entry ad and its risk fell from 0.91 to 0.88: the model read the sentence and its probability
dropped by more than the rule risk rose. adwatch 0.3.0 hid every sentence holding an indicator from
the model, which covered that case; a second trial then glued indicators into existing sentences,
after an ad with no final full stop, or as a title ("URGENT HIRING - ..."), and risk fell from 0.86
to 0.42, because the whole joined sentence was hidden. A third found a second fee sentence in an ad
that already had one lowering p (the category already counted, so the rules could not make up).

Now the model never trains on the words an indicator matched (scoring.features.IndicatorMask) and
scores an ad by its best reading: each indicator sentence hidden whole or only its matched words
(scoring.features.indicator_readings). Every reading of an ad is a reading of the ad with an
indicator phrase or sentence added, so p can only rise, and with it the risk.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from scoring.features import mask_indicators
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

# phrases the rules match whole (checked below): inserting one changes nothing the model reads
PHRASES = [
    ("registration fee", "recruitment_fee"),
    ("placement fee", "recruitment_fee"),
    ("copy of your passport", "document_request"),
    ("work abroad", "work_abroad"),
    ("free accommodation", "housing_provided"),
    ("no experience needed", "no_requirements"),
]

OWN = [  # fictional ads (the trials' cases and plain ones)
    "Data entry clerk needed, work from home, earn $900 weekly. Email your CV to jobs@example.org.",
    "We are hiring a registered nurse for our cardiology ward. Two years of acute care experience required.",
    "Warehouse operatives for day and night shifts in a busy distribution centre",
    "Customer service representative needed. Flexible hours, weekly pay, apply by calling (415) 555-0132!",
    "Marketing manager for a software company in Athens. Fluent Greek and English",
    ("Data Entry Clerk - Work From Home. Flexible hours, all you need is a computer and internet access. Send "
     "your CV to hr@example.org. Earn $500 weekly typing simple documents from the comfort of your home"),
]


def _base_ads() -> list[str]:
    rows = (ROOT / "data/difraud-job-scams/job_scams_validation.jsonl").read_text(encoding="utf-8").splitlines()
    texts = [json.loads(r) for r in rows]
    scams = [t["text"][:1500] for t in texts if int(t["label"]) == 1][:8]
    legit = [t["text"][:1500] for t in texts if int(t["label"]) == 0][:12]
    return OWN + scams + legit


def _words(text: str) -> list[str]:
    """The tokens the model's word TF-IDF reads (scikit-learn's default token pattern)."""
    return re.findall(r"(?u)\b\w\w+\b", text.lower())


def _placements(base: str, added: str) -> dict[str, str]:
    """``added`` put into ``base`` the ways a user writes it: own sentence, after an ad with no
    final full stop, as a title, glued into a sentence in the middle."""
    bare = base.rstrip().rstrip(".")
    stop = bare + "."
    out = {"end": stop + " " + added, "nostop": bare + " " + added, "newline": bare + "\n" + added,
           "title": added.rstrip(".!") + " - " + base}
    sentences = re.split(r"(?<=[.!?])\s+", stop)
    if len(sentences) > 1:
        mid = len(sentences) // 2
        words = sentences[mid].split(" ")
        # between two plain words (not inside a phone number, not after a negation cue)
        gaps = [k for k in range(1, len(words)) if words[k - 1].isalpha() and words[k].isalpha()
                and words[k - 1].lower() not in {"no", "not", "never", "without", "nor"}]
        if gaps:
            k = gaps[len(gaps) // 2]
            glued = " ".join([*words[:k], added.rstrip(".!").lower(), *words[k:]])
            out["glued"] = " ".join([*sentences[:mid], glued, *sentences[mid + 1:]])
    return out


@pytest.fixture(scope="module")
def scorer() -> Scorer:
    model_dir = max(p.parent for p in (ROOT / "models").glob("job-risk-*/model.skops"))
    return Scorer(model_dir=model_dir)


def _scores(scorer: Scorer, texts: list[str]) -> list:  # type: ignore[type-arg]
    return list(scorer.score_many(Ad(str(i), t, "job") for i, t in enumerate(texts)))


def test_masking_removes_exactly_the_matched_words() -> None:
    text = clean_text("Data entry clerk wanted for our office. Applicants must pay a registration fee of $150.\n"
                      "Send a copy of your passport.\nWe offer training.")
    masked = mask_indicators([text])[0]
    # "registration fee" and the overlapping "fee of $150" go, "Send a copy of your passport" goes
    assert " ".join(masked.split()) == "Data entry clerk wanted for our office. Applicants must pay a . . We offer training."
    plain = "Warehouse operatives for day and night shifts."
    assert mask_indicators([plain]) == [plain]
    for phrase, _ in PHRASES:  # each test phrase is matched whole
        assert mask_indicators([phrase])[0].strip() == "", phrase


def test_an_indicator_phrase_anywhere_never_lowers_p_or_risk(scorer: Scorer) -> None:
    assert scorer.model is not None
    bases = _base_ads()
    before = dict(zip(bases, _scores(scorer, bases), strict=True))
    cases = [(b, where, t, cat) for b in bases for phrase, cat in PHRASES
             for where, t in _placements(b, phrase).items()]
    assert len(cases) > 500
    after = _scores(scorer, [t for _, _, t, _ in cases])
    masked_before = dict(zip(bases, mask_indicators([clean_text(b) for b in bases]), strict=True))
    masked_after = mask_indicators([clean_text(t) for _, _, t, _ in cases])
    raised = same = negated = 0
    for (base, where, longer, category), score, masked in zip(cases, after, masked_after, strict=True):
        old = before[base]
        if category not in score.explanation["categories"]:
            # placed in a negation window ("though not inappropriate registration fee"): not an
            # indicator there, so the model reads it like other words
            negated += 1
            continue
        # every reading of the base ad is a reading of the longer one: p can only rise ...
        p_old, p_new = old.explanation["model_probability"], score.explanation["model_probability"]
        assert p_new >= p_old - 1e-6, (p_old, p_new, where, longer[:200])
        same += _words(masked) == _words(masked_before[base])  # the phrase reading is the base's
        # ... and so can the risk, and a category the ad lacked raises it
        assert score.risk >= old.risk - 1e-6, (old.risk, score.risk, where, longer[:200])
        if category not in old.explanation["categories"] and old.risk < 0.999:
            assert score.risk > old.risk + 1e-6, (old.risk, score.risk, where, longer[:200])
            raised += 1
    assert negated <= 0.02 * len(cases), negated
    assert same >= 0.9 * len(cases), (same, len(cases))
    assert raised >= len(cases) // 3


def test_adding_an_indicator_sentence_anywhere_never_lowers_job_risk(scorer: Scorer) -> None:
    """A whole sentence also brings words no rule matched. As a sentence of its own it is hidden
    whole in one reading, so p cannot fall; glued into a title or another sentence its other words
    are read, and on these ads they never outweigh the indicator."""
    bases = _base_ads()
    before = dict(zip(bases, _scores(scorer, bases), strict=True))
    cases = [(b, where, t, cat) for b in bases for sentence, cat in ADDED
             for where, t in _placements(b, sentence).items()]
    after = _scores(scorer, [t for _, _, t, _ in cases])
    moved = negated = 0
    for (base, where, longer, category), score in zip(cases, after, strict=True):
        old = before[base]
        if category not in score.explanation["categories"]:  # in a negation window, see above
            negated += 1
            continue
        assert score.risk >= old.risk - 1e-6, (old.risk, score.risk, where, longer[:200])
        p_old, p_new = old.explanation["model_probability"], score.explanation["model_probability"]
        if where in ("end", "newline"):  # a sentence of its own: one reading hides it whole
            assert p_new >= p_old - 1e-6, (p_old, p_new, where, longer[:200])
        moved += abs(p_new - p_old) > 1e-4
    assert negated <= 0.02 * len(cases), negated
    assert moved > 0  # the sentences' other words do reach the model


def test_a_second_indicator_of_a_category_the_ad_has_never_lowers_risk(scorer: Scorer) -> None:
    """A new user added "Registration fee of $50 required." to an ad that already asked for a fee:
    the rules could not add risk (a category counts once) and the sentence's other words lowered p
    (risk 0.926 -> 0.916 in one ad). As a sentence of its own it is now hidden whole in one reading."""
    bases = [
        ("Hotel housekeeping staff needed. Registration fee of $50 required before travel. "
        "Contact jobs@example.org for details"),
        ("Data Entry Clerk - work from home. Earn big money typing from home. A small fee is required for "
        "your starter kit. Text +1 212 555 0147"),
        ("Factory workers needed in Poland. Placement fee of $300. We keep your passport for safekeeping. "
        "Call (415) 555-0199"),
        *OWN,
    ]
    added = ["Registration fee of $50 required.", "A placement fee is charged.",
             "We keep your passport for safekeeping.", "Applicants must pay a registration fee of $150 first."]
    cases = [(b, t) for b in bases for a in added for t in (a + " " + b, b.rstrip(".") + ". " + a, b + "\n" + a)]
    before = dict(zip(bases, _scores(scorer, bases), strict=True))
    for (base, longer), score in zip(cases, _scores(scorer, [t for _, t in cases]), strict=True):
        old = before[base]
        assert score.explanation["model_probability"] >= old.explanation["model_probability"] - 1e-6, longer
        assert score.risk >= old.risk - 1e-6, (old.risk, score.risk, longer)


def test_an_ad_with_many_indicator_sentences_keeps_the_guarantee(scorer: Scorer) -> None:
    """A new user added a fee sentence after the title of an ad with 6 indicator sentences: the
    sixth fell out of the varied readings and risk went 0.99 -> 0.78. Up to
    MAX_READING_SENTENCES indicator sentences are varied now."""
    from scoring.features import MAX_READING_SENTENCES

    assert MAX_READING_SENTENCES >= 10
    title = "Administrative Assistant"
    body = ("No experience needed. Anyone can apply. No qualifications needed. All ages welcome. Open to everyone. "
            "No interview needed for home based data entry typing clerk positions, get started earning from home "
            "with your computer and internet. Apply today.")
    base = title + "\n" + body
    longer = [title + "\n" + added + " " + body for added in (
        "A registration fee of $50 is required.", "Send a copy of your passport.", "No skills needed.",
        "Work abroad in Dubai, visa arranged.")]
    old, *new = _scores(scorer, [base, *longer])
    for text, score in zip(longer, new, strict=True):
        assert score.explanation["model_probability"] >= old.explanation["model_probability"] - 1e-6, text
        assert score.risk >= old.risk - 1e-6, (old.risk, score.risk, text)

"""Feature transformers, the bias report (scored file and stored ads), ``adwatch evaluate`` output,
identity-term switch, plots, and the monotone job-ad risk combination."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from cli.modeling import (
    CliInputError,
    bias_report,
    evaluate,
    evaluate_files,
    scored_file_items,
    stored_items,
)
from scoring.bias import bias_report as compute_bias
from scoring.bias import mentioned_groups
from scoring.datasets import LabelledAd, load_labelled
from scoring.evaluate import f1_best, recall_at_precision, report
from scoring.features import IdentityTermFilter, IndicatorMask
from scoring.model import TrainedModel, ad_frame, save_model, train_model
from scoring.rules import default_engine
from scoring.scorer import combine, rule_risk
from scoring.types import IndicatorHit

DATA = Path(__file__).resolve().parents[2] / "data"
TRAIN = [DATA / "difraud-job-scams/job_scams_validation.jsonl", DATA / "emscad-fj-small/fj_small.csv"]
EXCLUDE = DATA / "emscad-fj-small/fj_small_overlap_with_difraud.csv"

TEXTS = [
    "Earn $900 weekly from home! A registration fee of $50 is required before you start.",
    "Registered nurse for our cardiology ward, BLS certification required.",
    "Housing provided. Send a copy of your passport. Urgent hiring, start immediately.",
]


# ---------------------------------------------------------------- features


def test_indicator_mask_removes_the_matched_words_and_keeps_the_rest() -> None:
    frame = ad_frame(TEXTS)
    mask = IndicatorMask().fit(frame)
    out = mask.transform(frame)
    assert out.shape == frame.shape and out is not frame
    np.testing.assert_array_equal(out[:, 1:], frame[:, 1:])  # metadata untouched
    # only the matched words go: "registration fee" and the overlapping "fee of $50", "Send a copy
    # of your passport", "Housing provided", "Urgent", "start immediately"; text 1 holds no indicator
    assert [" ".join(t.split()) for t in out[:, 0]] == [
        "Earn $900 weekly from home! A is required before you start.", TEXTS[1], ". . hiring, ."]
    engine = default_engine()
    assert sum(len(a.indicators) for a in engine.analyze_detailed((t, "job") for t in frame[:, 0])) >= 5
    assert all(not a.indicators for a in engine.analyze_detailed((t, "job") for t in out[:, 0]))
    # 1-D input gives the same texts; disabled passes the input through
    assert list(mask.transform(frame[:, 0])) == list(out[:, 0])
    assert IndicatorMask(enabled=False).fit(frame).transform(frame) is frame
    # the 0.3.0 unit removes each whole sentence holding a hit
    whole = IndicatorMask(unit="sentence").fit(frame).transform(frame)
    assert [t.strip() for t in whole[:, 0]] == ["Earn $900 weekly from home!", TEXTS[1], ""]
    with pytest.raises(ValueError, match="unit must be one of"):
        IndicatorMask(unit="word").fit(frame).transform(frame)


def test_identity_filter_removes_nationality_and_ethnicity_terms() -> None:
    frame = ad_frame(["Brazilian and South African cooks wanted; Asian cuisine.", "Plain warehouse job."])
    out = IdentityTermFilter(enabled=True).fit(frame).transform(frame)
    assert " ".join(out[0, 0].split()) == "and cooks wanted; cuisine."
    assert out[1, 0] == "Plain warehouse job."
    assert frame[0, 0].startswith("Brazilian")  # input untouched
    assert (out[:, 1:] == frame[:, 1:]).all()
    off = IdentityTermFilter(enabled=False).fit(frame)
    assert off.terms_ == [] and off.transform(frame) is frame
    one_d = IdentityTermFilter().fit(["x"]).transform(["Filipino nannies"])
    assert one_d[0].strip() == "nannies"


# ---------------------------------------------------------------- metrics


def test_f1_best_and_recall_at_precision_hand_computed() -> None:
    y = [1, 1, 0, 1, 0, 0]
    p = [0.9, 0.8, 0.7, 0.6, 0.2, 0.1]
    # thresholds: top1 P=1 R=1/3; top2 P=1 R=2/3 (F1 .8); top3 P=2/3; top4 P=3/4 R=1 (F1 6/7)
    assert f1_best(y, p) == pytest.approx(6 / 7)
    assert recall_at_precision(y, p, 0.9) == pytest.approx(2 / 3)
    assert recall_at_precision(y, p, 0.7) == pytest.approx(1.0)
    assert recall_at_precision([0, 1], [0.9, 0.1], 0.9) == 0.0
    r = report(y, p)
    assert r["n"] == 6 and r["n_pos"] == 3 and r["f1_best"] == pytest.approx(0.8571, abs=1e-4)


# ---------------------------------------------------------------- model and evaluate


@pytest.fixture(scope="module")
def small_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TrainedModel]:
    ads = load_labelled(TRAIN, exclude=EXCLUDE)
    subset: list[LabelledAd] = [a for a in ads if a.label == 1] + [a for a in ads if a.label == 0][:120]
    trained = train_model(subset, seed=0, n_boot=10)
    trained.inputs = [{"path": str(p), "sha256": "00" * 32, "role": "train"} for p in TRAIN]
    trained.inputs.append({"path": str(EXCLUDE), "sha256": "11" * 32, "role": "exclude"})
    folder = save_model(trained, tmp_path_factory.mktemp("models"), "job-risk-0.0.1")
    return folder, trained


def test_card_shows_identity_effect_risk_rule_and_plots(small_model: tuple[Path, TrainedModel]) -> None:
    folder, trained = small_model
    eff = trained.identity_effect
    assert eff["exclude_identity_terms"] is False
    for key in ("with_identity_terms", "without_identity_terms"):
        assert 0.0 <= eff[key]["pr_auc"]["value"] <= 1.0 and 0.5 <= eff[key]["roc_auc"]["value"] <= 1.0
    assert eff["with_identity_terms"] == {k: trained.candidates[trained.selected]["metrics"][k]
                                          for k in ("roc_auc", "pr_auc")}
    card = (folder / "card.md").read_text(encoding="utf-8")
    for needle in ("identity terms removed", "1 - (1 - p) * (1 - rule_risk)", "**not calibrated**",
                   "pr_curve.png", "reliability.png"):
        assert needle in card
    for png in ("pr_curve.png", "reliability.png"):
        assert (folder / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((folder / "metrics.json").read_text())["identity_terms"]["exclude_identity_terms"] is False


def _labelled_file(tmp_path: Path) -> Path:
    rows = [(t, 1) for t in (TEXTS[0], TEXTS[2], "Data entry from home, no experience, $600/week, pay a starter kit fee.")]
    rows += [(t, 0) for t in (TEXTS[1], "Senior accountant, CPA, five years of audit experience, London office.",
                              "Warehouse operative, forklift licence, day shifts, pension scheme.",
                              "Junior web developer: React, TypeScript, code review, hybrid working.")]
    path = tmp_path / "small.jsonl"
    path.write_text("".join(json.dumps({"id": i, "text": t, "label": y}) + "\n" for i, (t, y) in enumerate(rows)))
    return path


KEYS = {"n", "n_pos", "roc_auc", "pr_auc", "f1_best", "recall_at_precision_0_9", "brier", "ece"}


def test_evaluate_json_keys_and_ranges(small_model: tuple[Path, TrainedModel], tmp_path: Path) -> None:
    folder, _ = small_model
    data = _labelled_file(tmp_path)
    app = typer.Typer()
    app.command()(evaluate)
    app.command("other")(lambda: None)  # two commands: typer keeps the command name
    res = CliRunner().invoke(app, ["evaluate", "--data", str(data), "--format", "json", "--model", str(folder)])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert KEYS <= set(out) and KEYS <= set(out["baseline"])
    for result in (out, out["baseline"]):
        assert result["n"] == 7 and result["n_pos"] == 3
        for k in KEYS - {"n", "n_pos"}:
            assert 0.0 <= result[k] <= 1.0, (k, result[k])
        assert result["pr_auc"] >= 3 / 7 - 0.2 and result["f1_best"] > 0
    assert out["model"] == "job-risk-0.0.1"
    assert [Path(p).name for p in out["baseline"]["train_data"]] == [p.name for p in TRAIN]


def test_evaluate_errors(small_model: tuple[Path, TrainedModel], tmp_path: Path) -> None:
    import shutil

    bare = tmp_path / "bare-0.0.1"
    bare.mkdir()
    shutil.copy(small_model[0] / "model.skops", bare / "model.skops")  # no metrics.json beside it
    with pytest.raises(CliInputError, match="pass --train-data"):
        evaluate_files([_labelled_file(tmp_path)], model_dir=bare)
    app = typer.Typer()
    app.command()(evaluate)
    app.command("other")(lambda: None)
    res = CliRunner().invoke(app, ["evaluate", "--data", str(tmp_path / "missing.jsonl")])
    assert res.exit_code == 2
    res = CliRunner().invoke(app, ["evaluate", "--data", str(_labelled_file(tmp_path)), "--model", str(tmp_path / "nowhere")])
    assert res.exit_code == 2


# ---------------------------------------------------------------- bias report

SCORED = [
    {"id": "a1", "text": "Brazilian cooks wanted for a new restaurant.", "risk": 0.8, "band": "high"},
    {"id": "a2", "text": "Spanish-speaking nanny for a Brazilian family.", "risk": 0.4, "band": "medium"},
    {"id": "a3", "text": "Asian waiters needed for our restaurant.", "risk": 0.2, "band": "low"},
    {"id": "a4", "text": "Warehouse staff, day shifts.", "risk": 0.1, "band": "low"},
    {"id": "a5", "risk": 0.5, "band": "medium"},  # text comes from the input file
]


def test_mentioned_groups() -> None:
    g = mentioned_groups("Fluent in Portuguese; South African or Brazilian applicants; Latina owned.")
    # "fluent in Portuguese" is a language requirement, not a mention of Portuguese people
    assert g == {"nationality": {"South African", "Brazilian"}, "ethnicity": {"Latina"}, "language": {"Portuguese"}}
    assert mentioned_groups("Warehouse staff") == {"nationality": set(), "ethnicity": set(), "language": set()}
    # Language uses of nationality and ethnicity terms (a new user found "Fluent English required"
    # counted as the ethnicity English and "Fluent Spanish" as the nationality Spanish).
    none: set[str] = set()
    for text, language in [
        ("Fluent English required.", {"English"}),
        ("Fluent Spanish required.", {"Spanish"}),
        ("Excellent written and spoken English and French.", {"English", "French"}),
        ("English and Spanish speakers needed", {"English", "Spanish"}),
        ("Bilingual English/Spanish receptionist", {"English", "Spanish"}),
        ("Must speak English or Portuguese", {"English", "Portuguese"}),
        ("good English skills", {"English"}),
        # more language contexts from the demo's job ads (English counted as an ethnicity in 22 of them)
        ("Please send your detailed CV in English.", {"English"}),
        ("communication skills (English)Strong organisational skills", {"English"}),
        ("Fluent in English- Very organised", {"English"}),
        ("Interviews will be conducted in the English language.", {"English"}),
        ("Sweet and quiet, speaks little English.", {"English"}),
        ("Fluent written and spoken English or English as a mother tongue", {"English"}),
        ("Excellent verbal English communication skills", {"English"}),
    ]:
        assert mentioned_groups(text) == {"nationality": none, "ethnicity": none, "language": language}, text
    assert mentioned_groups("We are an English company hiring Brazilian cooks") == {
        "nationality": {"Brazilian"}, "ethnicity": {"English"}, "language": none}
    # "X or Y would be an advantage" is a language requirement (a new user found it counted as nationalities)
    assert mentioned_groups("Italian or French would be an advantage.") == {
        "nationality": none, "ethnicity": none, "language": {"Italian", "French"}}
    assert mentioned_groups("German is a plus") == {"nationality": none, "ethnicity": none, "language": {"German"}}
    assert mentioned_groups("Filipino preferred")["nationality"] == {"Filipino"}  # a preference for people
    # "in the X market" is not a language (a new user found "in" taken as a language context)
    assert mentioned_groups("Expanding in the Japanese market") == {
        "nationality": {"Japanese"}, "ethnicity": none, "language": none}
    assert mentioned_groups("French is considered an asset")["language"] == {"French"}


def test_a_term_naming_a_thing_is_not_a_mention() -> None:
    """A new user found "nail polish", "German Shepherd", "Swedish massage", "Full English breakfast"
    and a dozen more counted as nationalities or ethnicities."""
    for text in ["nail polish and shoe polish", "German Shepherd puppies", "Indian Ocean cruise",
                 "American Express card", "French fries and French doors",
                 "Swiss cheese, Danish pastry, Turkish coffee, Greek yogurt", "Swedish massage",
                 "Dutch oven; Irish pub; Colombian coffee; Brazilian wax", "Full English breakfast"]:
        assert mentioned_groups(text) == {"nationality": set(), "ethnicity": set(), "language": set()}, text
    assert mentioned_groups("Polish workers wanted")["nationality"] == {"Polish"}
    assert mentioned_groups("Swedish massage by Asian girls")["ethnicity"] == {"Asian"}
    # "Asian massage" describes the workers: still a mention
    assert mentioned_groups("Asian massage, new girls")["ethnicity"] == {"Asian"}
    assert mentioned_groups("Native speaker of Russian required") == {
        "nationality": set(), "ethnicity": set(), "language": {"Russian"}}


def test_everyday_colour_words_are_ethnicity_only_next_to_a_person() -> None:
    """A new user found "white papers" and "black box testing" counted as ethnicity mentions."""
    none: set[str] = set()
    for text in ["We publish white papers and do black box testing.", "Hot chocolate and caramel latte",
                 "Black Friday sale staffing", "Whiteboard and black ink"]:
        assert mentioned_groups(text)["ethnicity"] == none, text
    for text, eth in [("Sexy white girl new in town", {"White"}), ("Black women only", {"Black"}),
                      ("black and white girls", {"Black", "White"}), ("choclate skin beauty", {"Choclate"}),
                      ("Caramel skinned Latina", {"Caramel", "Latina"})]:
        assert mentioned_groups(text)["ethnicity"] == eth, text


def _expected_file_report(rep: dict) -> None:
    assert rep["overall"] == {"n": 5, "flagged": 3, "flag_rate": 0.6, "flag_rate_low": 0.2307,
                              "flag_rate_high": 0.8824, "mean_risk": 0.4}
    nat = {r["group"]: r for r in rep["nationality"]["groups"]}
    # 95% Wilson interval of 2 flagged out of 2: [0.3424, 1.0]
    assert nat == {"Brazilian": {"group": "Brazilian", "n": 2, "flagged": 2, "flag_rate": 1.0,
                                 "flag_rate_low": 0.3424, "flag_rate_high": 1.0, "mean_risk": 0.6}}
    assert rep["nationality"]["none"] == {"n": 3, "flagged": 1, "flag_rate": 0.3333, "flag_rate_low": 0.0615,
                                          "flag_rate_high": 0.7923, "mean_risk": 0.2667}
    assert rep["ethnicity"]["groups"] == [{"group": "Asian", "n": 1, "flagged": 0, "flag_rate": 0.0,
                                           "flag_rate_low": 0.0, "flag_rate_high": 0.7935, "mean_risk": 0.2}]
    assert rep["ethnicity"]["none"]["n"] == 4 and rep["ethnicity"]["none"]["flag_rate"] == 0.75
    lang = {r["group"]: (r["n"], r["flagged"], r["mean_risk"]) for r in rep["language"]["groups"]}
    assert lang == {"Spanish": (1, 1, 0.4), "French": (1, 1, 0.5)}


def test_bias_report_on_a_scored_jsonl_file(tmp_path: Path) -> None:
    scored = tmp_path / "scored.jsonl"
    scored.write_text("".join(json.dumps(r) + "\n" for r in SCORED))
    inp = tmp_path / "input.jsonl"
    inp.write_text(json.dumps({"id": "a5", "text": "Receptionist, fluent in French, hotel front desk."}) + "\n")
    with pytest.raises(CliInputError, match=r"scored.jsonl:5: no 'text'.*--input"):
        list(scored_file_items(scored))
    app = typer.Typer()
    app.command("bias-report")(bias_report)
    app.command("other")(lambda: None)
    res = CliRunner().invoke(app, ["bias-report", "--scored", str(scored), "--input", str(inp), "--min-n", "1"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["stored"] is None
    _expected_file_report(out["scored_file"])
    res = CliRunner().invoke(app, ["bias-report", "--scored", str(scored), "--input", str(inp), "--min-n", "2"])
    rep = json.loads(res.stdout)["scored_file"]
    assert [r["group"] for r in rep["nationality"]["groups"]] == ["Brazilian"] and rep["language"]["groups"] == []
    # the report says what --min-n left out: Spanish and French, one ad each
    assert rep["language"]["left_out"] == {"groups": 2, "ads": 2} and rep["nationality"]["left_out"]["groups"] == 0
    # the default leaves out groups of fewer than 5 ads
    res = CliRunner().invoke(app, ["bias-report", "--scored", str(scored), "--input", str(inp)])
    assert json.loads(res.stdout)["scored_file"]["nationality"]["groups"] == []
    # --ad-type keeps the rows of one type (a1 is the only escort row here)
    typed = tmp_path / "typed.jsonl"
    typed.write_text("".join(json.dumps({**r, "ad_type": "escort" if r["id"] == "a1" else "job"}) + "\n"
                             for r in SCORED if "text" in r))
    res = CliRunner().invoke(app, ["bias-report", "--scored", str(typed), "--ad-type", "escort", "--min-n", "1"])
    rep = json.loads(res.stdout)["scored_file"]
    assert rep["overall"]["n"] == 1 and [r["group"] for r in rep["nationality"]["groups"]] == ["Brazilian"]


def test_bias_report_on_stored_ads_reads_newest_score(tmp_path: Path) -> None:
    from sqlalchemy import func, select

    from storage.db import make_engine, make_session_factory
    from storage.models import Ad, Score

    url = f"sqlite:///{tmp_path / 'ads.db'}"
    engine = make_engine(url)
    texts = {r["id"]: r.get("text", "Receptionist, fluent in French, hotel front desk.") for r in SCORED}
    with make_session_factory(engine)() as session, session.begin():
        for r in SCORED:
            ad = Ad(canonical_url=f"https://example.org/{r['id']}", url=f"https://example.org/{r['id']}",
                    site="test", ad_type="job", text=texts[r["id"]], content_sha256="0" * 64)
            session.add(ad)
            session.flush()
            # an older score that the report must ignore
            session.add(Score(ad_id=ad.id, model_version="old", risk=0.99, band="high", content_sha256="0" * 64))
            session.flush()
            session.add(Score(ad_id=ad.id, model_version="new", risk=r["risk"], band=r["band"], content_sha256="0" * 64))
    with make_session_factory(engine)() as session:
        n_scores = session.scalar(select(func.count()).select_from(Score))
    engine.dispose()
    before = (tmp_path / "ads.db").stat().st_mtime_ns
    rep = compute_bias(stored_items(url), source="db").as_dict()
    _expected_file_report(rep)
    assert compute_bias(stored_items(url, "escort"), source="db").as_dict()["overall"]["n"] == 0
    assert compute_bias(stored_items(url, "job"), source="db").as_dict()["overall"]["n"] == 5
    assert n_scores == 10
    app = typer.Typer()
    app.command("bias-report")(bias_report)
    app.command("other")(lambda: None)
    res = CliRunner().invoke(app, ["bias-report", "--db", url, "--format", "table", "--min-n", "1"])
    assert res.exit_code == 0, res.output
    assert "Brazilian" in res.stdout and "(none mentioned)" in res.stdout and "1.000 [0.34, 1.00]" in res.stdout
    assert (tmp_path / "ads.db").stat().st_mtime_ns == before
    with pytest.raises(CliInputError, match="database file not found"):
        list(stored_items(f"sqlite:///{tmp_path / 'none.db'}"))


# ---------------------------------------------------------------- risk


@pytest.mark.parametrize("p", [0.0, 0.05, 0.3, 0.9, 1.0, None])
def test_job_risk_is_monotone_in_model_probability_and_indicators(p: float | None) -> None:
    hit = IndicatorHit("job.fee", "recruitment_fee", 0, 3, "fee", 0.7)
    doc = IndicatorHit("job.doc", "document_request", 5, 9, "pass", 0.6)
    base = combine(p, rule_risk([]))
    with_fee = combine(p, rule_risk([hit]))
    with_both = combine(p, rule_risk([hit, doc]))
    assert base <= with_fee <= with_both <= 1.0
    if p is not None and p < 1.0:
        assert with_fee > base and with_both > with_fee
    for q in (0.0, 0.2, 0.6, 1.0):
        if p is not None and q >= p:
            assert combine(q, rule_risk([hit])) >= with_fee

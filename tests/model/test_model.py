"""Training, calibration output, persistence, explanations and determinism of the job-ad model.

Trains on a subset of the shipped data (all 71 fraudulent ads and 250 legitimate ones) with few
bootstrap resamples, so each training takes a few seconds.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio

from scoring.datasets import LabelledAd, load_labelled
from scoring.evaluate import pr_auc
from scoring.model import (
    META_FIELDS,
    JobRiskModel,
    ModelError,
    TrainedModel,
    ad_frame,
    clean_text,
    load_model,
    save_model,
    train_model,
)

DATA = Path(__file__).resolve().parents[2] / "data"

SCAM = ("Data entry clerks needed! Work from home, earn $500 per week, no experience needed. "
        "Send your details to jobs@example.org or call (415) 555-0132 today.")
REAL = ("Registered nurse for our cardiology ward. Two years of acute care experience, BLS "
        "certification and a valid state licence required. Day and night rotations.")


@pytest.fixture(scope="module")
def subset() -> list[LabelledAd]:
    ads = load_labelled(
        [DATA / "difraud-job-scams/job_scams_validation.jsonl", DATA / "emscad-fj-small/fj_small.csv"],
        exclude=DATA / "emscad-fj-small/fj_small_overlap_with_difraud.csv",
    )
    return [a for a in ads if a.label == 1] + [a for a in ads if a.label == 0][:250]


@pytest.fixture(scope="module")
def trained(subset: list[LabelledAd]) -> TrainedModel:
    return train_model(subset, seed=0, n_boot=50)


@pytest.fixture(scope="module")
def model(trained: TrainedModel) -> JobRiskModel:
    return JobRiskModel(trained.estimator, version="job-risk-test")


def test_predict_proba_shape_and_range(model: JobRiskModel, subset: list[LabelledAd]) -> None:
    texts = [a.text for a in subset[:40]]
    proba = model.predict_proba(texts, [a.metadata for a in subset[:40]])
    assert proba.shape == (40,) and proba.dtype == np.float64
    assert ((proba >= 0.0) & (proba <= 1.0)).all()
    assert model.predict_proba([SCAM, REAL]).shape == (2,)
    assert model.predict_proba([]).shape == (0,)
    with pytest.raises(ValueError, match="2 texts but 1 metadata"):
        model.predict_proba([SCAM, REAL], [{}])


def test_model_ranks_training_scams_above_legitimate_ads(model: JobRiskModel, subset: list[LabelledAd]) -> None:
    proba = model.predict_proba([a.text for a in subset], [a.metadata for a in subset])
    labels = np.array([a.label for a in subset])
    assert proba[labels == 1].mean() > 2 * proba[labels == 0].mean()


def test_cv_results_recorded(trained: TrainedModel) -> None:
    assert trained.baseline == "baseline_tfidf_lr"
    assert trained.selected in trained.candidates and len(trained.candidates) >= 3
    best = max(v["metrics"]["pr_auc"]["value"] for v in trained.candidates.values())
    assert trained.candidates[trained.selected]["metrics"]["pr_auc"]["value"] == best
    for res in trained.candidates.values():
        assert set(res["metrics"]) == {"roc_auc", "pr_auc", "brier", "ece"}
        for name, m in res["metrics"].items():
            assert m["low"] <= m["high"] and 0 < m["n_boot"] <= 50
            if name in ("roc_auc", "pr_auc"):  # ECE/Brier are biased in resamples, so may fall outside
                assert m["low"] <= m["value"] <= m["high"]
    assert trained.data["rows"] == 321 and trained.data["fraudulent"] == 71
    assert sum(trained.cv["fold_fraudulent"]) == 71
    # ungrouped CV of the selected candidate and the baseline (one fold seed by default): near-copies
    # may straddle folds, so both score higher than under grouped CV
    rnd = trained.random_cv
    assert rnd["seeds"] == [0] and set(rnd["candidates"]) == {trained.selected, trained.baseline}
    assert rnd["candidates"]["baseline_tfidf_lr"]["pr_auc"] == [pytest.approx(0.665, abs=0.002)]
    for name, r in rnd["candidates"].items():
        assert r["pr_auc_mean"] > trained.candidates[name]["metrics"]["pr_auc"]["value"]
    # the rules on fraud labels: few scams carry trafficking indicators; the combined risk ranks
    # worse than the probability alone, and the probability's figure is the selected candidate's
    eff = trained.rules_effect
    assert eff["with_hits"] == {"fraudulent": 13, "legitimate": 18}
    assert eff["rule_risk"]["pr_auc"]["value"] == pytest.approx(0.265, abs=0.002)
    assert eff["model_probability"]["pr_auc"]["value"] == pytest.approx(
        pr_auc(trained.oof_labels, trained.oof_probability), abs=1e-4)
    assert eff["risk"]["pr_auc"]["value"] < eff["model_probability"]["pr_auc"]["value"]


def test_explain_returns_k_weighted_features(model: JobRiskModel) -> None:
    top = model.explain(SCAM, {"has_company_logo": False}, k=5)
    assert len(top) == 5
    assert all(isinstance(f, str) and isinstance(w, float) for f, w in top)
    assert all(f.split(":", 1)[0] in ("word", "word1", "char", "meta") for f, _ in top)
    weights = [abs(w) for _, w in top]
    assert weights == sorted(weights, reverse=True) and weights[0] > 0
    assert len(model.explain(SCAM, k=3)) == 3
    meta = {"has_company_logo": False, "salary_range": "9-10"}
    everything = {f for f, _ in model.explain(SCAM, meta, k=10_000)}
    # Every explained feature is one the ad has (a non-zero feature-row column), and only zero
    # terms are left out: the metadata this ad has, never the values it does not.
    pipe = model.estimator.calibrated_classifiers_[0].estimator
    row = pipe[:-1].transform(ad_frame([SCAM], [meta])).tocsr()
    present = {model._feature_label(int(j)) for j in row.indices}
    assert {"meta:has_company_logo_no", "meta:salary_present_yes", "meta:has_questions_unknown"} <= present
    assert everything <= present and any(f.startswith("meta:") for f in everything)
    assert not {"meta:has_company_logo_yes", "meta:has_questions_yes"} & everything
    with pytest.raises(ValueError):
        model.explain(SCAM, k=0)


def test_save_load_round_trip(trained: TrainedModel, model: JobRiskModel, tmp_path: Path) -> None:
    trained.inputs = [{"path": "data/x.jsonl", "sha256": "ab" * 32, "role": "train"}]
    folder = save_model(trained, tmp_path / "models", "job-risk-9.9.9")
    assert folder == tmp_path / "models" / "job-risk-9.9.9"
    loaded = load_model(folder)
    assert loaded.version == "job-risk-9.9.9"
    texts = [SCAM, REAL, "Bar staff wanted, cash paid daily, accommodation provided."]
    meta = [{"salary_range": "", "has_company_logo": 0}, None, {}]
    np.testing.assert_array_equal(loaded.predict_proba(texts, meta), model.predict_proba(texts, meta))
    assert loaded.explain(SCAM, k=4) == model.explain(SCAM, k=4)
    assert load_model(folder / "model.skops").version == "job-risk-9.9.9"

    metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["model"] == "job-risk-9.9.9" and metrics["selected"] == trained.selected
    assert set(metrics["metrics"]) == {"roc_auc", "pr_auc", "brier", "ece"}
    assert metrics["inputs"][0]["sha256"] == "ab" * 32
    card = (folder / "card.md").read_text(encoding="utf-8")
    for needle in ("## Intended use", "## Prohibited uses", "## Limitations", "ab" * 32, "2012-2014",
                   "not** trafficking", "scikit-learn"):
        assert needle in card
    # metrics.json and card.md are committed: saving again gives identical bytes
    again = save_model(trained, tmp_path / "again", "job-risk-9.9.9")
    for name in ("metrics.json", "card.md"):
        assert (again / name).read_bytes() == (folder / name).read_bytes()


def test_load_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"missing-model.*model\.skops: model file not found"):
        load_model(tmp_path / "missing-model")
    broken = tmp_path / "broken" / "model.skops"
    broken.parent.mkdir()
    broken.write_bytes(b"not a zip")
    with pytest.raises(ModelError, match=r"broken/model\.skops: not a readable skops file"):
        load_model(broken.parent)


class _Intruder:
    def __init__(self) -> None:
        self.payload = "x"


def test_load_refuses_untrusted_types(tmp_path: Path) -> None:
    path = tmp_path / "evil" / "model.skops"
    path.parent.mkdir()
    sio.dump(_Intruder(), path, compression=zipfile.ZIP_DEFLATED)
    with pytest.raises(ModelError, match=r"evil/model\.skops: refuses to load untrusted types .*_Intruder"):
        load_model(path)


def test_same_seed_gives_identical_model(subset: list[LabelledAd], model: JobRiskModel) -> None:
    again = JobRiskModel(train_model(subset, seed=0, n_boot=50).estimator, version="x")
    texts = [a.text for a in subset[::7]] + [SCAM, REAL]
    np.testing.assert_array_equal(again.predict_proba(texts), model.predict_proba(texts))


def test_too_few_fraud_groups_is_a_clear_error(subset: list[LabelledAd]) -> None:
    few = [a for a in subset if a.label == 1][:3] + [a for a in subset if a.label == 0][:50]
    with pytest.raises(ValueError, match=r"needs >= 5 groups of each class"):
        train_model(few)


def test_ad_frame_encodes_missing_metadata() -> None:
    frame = ad_frame(
        ["a", "b", "c"],
        [
            {"has_company_logo": True, "salary_range": "", "company_profile": "We sell tea.",
             "employment_type": "Full-time", "required_education": ""},
            {"has_company_logo": "0", "salary_min": 12.5},
            None,
        ],
    )
    assert frame.shape == (3, 1 + len(META_FIELDS))
    row = dict(zip(META_FIELDS, frame[0, 1:], strict=True))
    assert row["has_company_logo"] == "yes" and row["salary_present"] == "no"
    assert row["company_profile_present"] == "yes" and row["employment_type"] == "full-time"
    assert row["required_education"] == "none" and row["has_questions"] == "unknown"
    row = dict(zip(META_FIELDS, frame[1, 1:], strict=True))
    assert row["has_company_logo"] == "no" and row["salary_present"] == "yes"
    assert set(frame[2, 1:]) == {"unknown"}


def test_clean_text_masks_contacts_and_splits_glued_sentences() -> None:
    text = ("Great team.We pay weekly&nbsp;&amp; train you. Visit https://example.org/jobs, "
            "mail hr@example.org, call +1 212 555 0147 or #PHONE_3f2a9c#. Salary 2012-2014 ok")
    assert clean_text(text) == (
        "Great team. We pay weekly & train you. Visit urltoken mail emailtoken , call phonetoken "
        "or phonetoken . Salary 2012-2014 ok"
    )


def test_training_does_not_depend_on_the_order_of_the_files(subset: list[LabelledAd]) -> None:
    """A new user found that `--data A B` and `--data B A` selected different models: folds and
    group names followed the file order. Records are now put in a canonical order first."""
    keep = {a.id for a in subset}
    files = [DATA / "difraud-job-scams/job_scams_validation.jsonl", DATA / "emscad-fj-small/fj_small.csv"]
    exclude = DATA / "emscad-fj-small/fj_small_overlap_with_difraud.csv"
    forward = [a for a in load_labelled(files, exclude=exclude) if a.id in keep]
    backward = [a for a in load_labelled(files[::-1], exclude=exclude) if a.id in keep]
    assert [a.id for a in forward] != [a.id for a in backward] and len(forward) == len(backward) == 321
    one = train_model(forward, seed=0, n_boot=20, cv_repeats=2)
    two = train_model(backward, seed=0, n_boot=20, cv_repeats=2)
    assert one.selected == two.selected and one.candidates == two.candidates and one.cv == two.cv
    assert one.repeats == two.repeats and one.repeats["seeds"] == [0, 1]
    # the first fold seed's figures are the main CV's; each seed has exactly one best candidate
    for cname, rep in one.repeats["candidates"].items():
        assert rep["pr_auc"][0] == pytest.approx(one.candidates[cname]["metrics"]["pr_auc"]["value"], abs=1e-4)
        assert rep["pr_auc_mean"] == pytest.approx(sum(rep["pr_auc"]) / 2, abs=1e-4)
    assert sum(rep["best"] for rep in one.repeats["candidates"].values()) == 2
    assert one.repeats["candidates"][one.selected]["best"] >= 1
    texts = [SCAM, REAL, *[a.text for a in subset[:30]]]
    np.testing.assert_array_equal(JobRiskModel(one.estimator, "a").predict_proba(texts),
                                  JobRiskModel(two.estimator, "b").predict_proba(texts))


def test_bad_model_name_is_refused_before_training(tmp_path: Path) -> None:
    from scoring.model import train_cli

    data = tmp_path / "ads.jsonl"
    data.write_text(json.dumps({"text": "x", "label": 0}) + "\n")
    with pytest.raises(ValueError, match=r"bad model name '\.\./evil'"):
        train_cli([data], tmp_path, "../evil", None)  # one-row file: training would fail if reached


def test_card_projects_the_targets_and_ranks_the_first_fold_draw() -> None:
    """The card repeats the issue's targets, projects them from the mean CV gains over the baseline,
    and says where the first fold draw (which chose the model) ranks among the draws."""
    from types import SimpleNamespace

    from scoring.model import _repeat_lines, _target_lines

    rep = {"seeds": [0, 1, 2], "candidates": {
        "base": {"pr_auc": [0.30, 0.26, 0.28], "roc_auc": [0.79, 0.76, 0.775], "best": 0,
                 "pr_auc_mean": 0.28, "roc_auc_mean": 0.775},
        "knn": {"pr_auc": [0.478, 0.31, 0.40], "roc_auc": [0.87, 0.83, 0.845], "best": 3,
                "pr_auc_mean": 0.398, "roc_auc_mean": 0.848}}}
    model = SimpleNamespace(repeats=rep, selected="knn", baseline="base", candidates={}, random_cv={})
    text = "\n".join(_target_lines(model))  # type: ignore[arg-type]
    assert "PR-AUC >= 0.65 and ROC-AUC >= 0.93" in text and "**not measured**" in text
    # 0.46 x 0.398 / 0.28 = 0.654; 1 - 0.13 x 0.152 / 0.225 = 0.912
    assert "about PR-AUC 0.65\n(1.42x the baseline) and ROC-AUC 0.91 (32% fewer mis-ordered pairs)" in text
    assert "PR-AUC borderline (within 0.01 of its target), ROC-AUC below its target." in text
    assert "ungrouped" not in text  # no ungrouped CV recorded, no paragraph on it
    model.random_cv = {"seeds": [0, 1], "candidates": {
        "base": {"pr_auc": [0.46, 0.464], "roc_auc": [0.86, 0.868], "pr_auc_mean": 0.462, "roc_auc_mean": 0.864},
        "knn": {"pr_auc": [0.517, 0.549], "roc_auc": [0.873, 0.891], "pr_auc_mean": 0.533, "roc_auc_mean": 0.882}}}
    text = "\n".join(_target_lines(model))  # type: ignore[arg-type]
    assert "ungrouped** stratified 5-fold CV (2 fold seeds)" in text
    assert ("this model PR-AUC **0.533** [0.517, 0.549] and ROC-AUC\n**0.882** [0.873, 0.891]: PR-AUC below its "
            "target, ROC-AUC below its target.") in text
    lines = "\n".join(_repeat_lines(model))  # type: ignore[arg-type]
    assert "is the highest of the\n3 draws for knn (PR-AUC 0.478 against a mean of 0.398)" in lines
    rep["candidates"]["knn"]["pr_auc"] = [0.35, 0.478, 0.40]
    assert "is the lowest of the\n3 draws" in "\n".join(_repeat_lines(model))  # type: ignore[arg-type]


def test_the_plain_baseline_is_never_selected(subset: list[LabelledAd], monkeypatch: pytest.MonkeyPatch) -> None:
    """The baseline reads indicator words (an added indicator could lower its p), so it is only the
    yardstick: a weaker masked candidate is chosen, with a warning (a new user trained a model that
    selected the baseline while its card claimed the masking)."""
    from sklearn.dummy import DummyClassifier

    import scoring.model as sm

    real = sm._candidates()
    weak = sm._Candidate("dummy_meta", ("meta",), lambda seed: DummyClassifier(strategy="prior"),
                         "constant prior")
    monkeypatch.setattr(sm, "_candidates", lambda: [real[0], weak])
    lines: list[str] = []
    trained = train_model(subset, seed=0, n_boot=10, log=lines.append)
    assert trained.candidates["baseline_tfidf_lr"]["metrics"]["pr_auc"]["value"] > 0.5
    # per-fold priors: about the share of fraudulent ads, 71 / 321
    assert trained.candidates["dummy_meta"]["metrics"]["pr_auc"]["value"] == pytest.approx(71 / 321, abs=0.005)
    assert trained.selected == "dummy_meta"
    assert any(line.startswith("warning: the plain baseline ranks this data better than dummy_meta") for line in lines)

"""Which model folder the scorer loads when none is named."""

from __future__ import annotations

from pathlib import Path

from scoring.scorer import find_model_dir


def _make(root: Path, *names: str) -> None:
    for name in names:
        (root / name).mkdir(parents=True)
        (root / name / "model.skops").write_bytes(b"x")


def test_the_shipped_family_wins_by_numeric_version(tmp_path: Path) -> None:
    # a new user's "--name mixed" silently replaced the shipped model, and 0.10.0 sorted before 0.9.0
    _make(tmp_path, "job-risk-0.9.0", "job-risk-0.10.0", "mixed", "zz-custom-2.0.0")
    (tmp_path / "job-risk-9.9.9").mkdir()  # no artifact: not a candidate
    assert find_model_dir(tmp_path) == tmp_path / "job-risk-0.10.0"
    assert find_model_dir(tmp_path, "mixed") == tmp_path / "mixed"
    assert find_model_dir(tmp_path, "job-risk-9.9.9") is None


def test_without_the_shipped_family_the_highest_version_then_the_last_name(tmp_path: Path) -> None:
    _make(tmp_path, "b-model", "a-model-1.2.0", "c-model-1.10.0")
    assert find_model_dir(tmp_path) == tmp_path / "c-model-1.10.0"
    other = tmp_path / "other"
    _make(other, "alpha", "beta")
    assert find_model_dir(other) == other / "beta"
    assert find_model_dir(tmp_path / "missing") is None

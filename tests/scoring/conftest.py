"""Fixtures for the rule engine tests: one engine and one extractor per session (built once)."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import CONFIG_DIR
from scoring.extract import ContactExtractor, load_extraction_lexicon
from scoring.rules import RuleEngine

DATA = Path(__file__).resolve().parent.parent / "data"
INDICATORS_DIR = CONFIG_DIR / "indicators"


@pytest.fixture(scope="session")
def engine() -> RuleEngine:
    """The rule engine on the shipped ``config/indicators``."""
    return RuleEngine(INDICATORS_DIR)


@pytest.fixture(scope="session")
def extractor() -> ContactExtractor:
    """The contact extractor on the shipped ``config/indicators/extraction.*.yml``."""
    return ContactExtractor(load_extraction_lexicon(INDICATORS_DIR))

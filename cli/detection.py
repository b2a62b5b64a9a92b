"""Detection evaluation commands: ``adwatch evaluate-extraction`` and ``adwatch evaluate-indicators``.

Plain functions with typer ``Annotated`` parameters; ``cli.main`` registers them. Each prints its
figures as a rich table, or one JSON object with ``--format json``. Exit status 2 on bad input
(missing or malformed file, unknown region, bad indicator configuration); 0 otherwise: the figures
are reported, not judged.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

__all__ = ["evaluate_extraction", "evaluate_indicators"]

from cli.output import console
from cli.output import fail as _fail

FormatOption = Annotated[str, typer.Option("--format", help="Output: 'table' (rich) or 'json' (one object).")]
IndicatorsDirOption = Annotated[
    Path | None,
    typer.Option("--indicators-dir", help="Folder of indicator/extraction YAML (default: settings' config/indicators)."),
]


def _check_format(fmt: str) -> str:
    fmt = fmt.lower()
    if fmt not in ("table", "json"):
        raise _fail(f"--format must be 'table' or 'json', not {fmt!r}")
    return fmt


def _indicators_dir(path: Path | None) -> Path:
    if path is not None:
        return path
    from config.settings import get_settings

    return get_settings().indicators_dir


def evaluate_extraction(
    fixtures: Annotated[Path, typer.Option("--fixtures", help="Phone fixtures, JSON Lines with 'input' and 'expected_phone_numbers'.")],
    region: Annotated[str, typer.Option("--region", help="Default ISO 3166-1 alpha-2 region for numbers without a country code.")] = "US",
    indicators_dir: IndicatorsDirOption = None,
    show_failures: Annotated[int, typer.Option("--show-failures", min=0, help="Misses listed in the table output.")] = 10,
    fmt: FormatOption = "table",
) -> None:
    """Exact-match accuracy of phone extraction (obfuscated numbers) on a fixtures file."""
    import phonenumbers

    from scoring.evaluate_rules import EvaluationInputError
    from scoring.evaluate_rules import evaluate_extraction as run
    from scoring.extract import (
        ContactExtractor,
        ExtractionConfigError,
        load_extraction_lexicon,
    )

    fmt = _check_format(fmt)
    region = region.upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise _fail(f"unknown region {region!r} (ISO 3166-1 alpha-2, e.g. US, GB, IN)")
    try:
        extractor = ContactExtractor(load_extraction_lexicon(_indicators_dir(indicators_dir)))
        report = run(fixtures, extractor, region)
    except (EvaluationInputError, ExtractionConfigError) as exc:
        raise _fail(str(exc)) from exc
    if fmt == "json":
        print(json.dumps({"fixtures": str(fixtures), **report.to_dict()}, ensure_ascii=False))
        return
    table = Table(title=f"Phone extraction: {fixtures.name} (region {region})")
    table.add_column("fixtures", justify="right")
    table.add_column("exact matches", justify="right")
    table.add_column("accuracy", justify="right")
    table.add_row(str(report.total), str(report.exact), f"{report.accuracy:.1%}")
    console.print(table)
    for f in report.failures[:show_failures]:
        console.print(f"[yellow]miss[/] {f['id']}: expected {f['expected']} found {f['found']}  [dim]{f['input']!s:.100}[/]")


def evaluate_indicators(
    gold: Annotated[Path, typer.Option("--gold", help="Indicator gold set, JSON Lines with 'text', 'categories' (and 'ad_type', 'lang').")],
    region: Annotated[str, typer.Option("--region", help="Default phone region (entities are extracted too).")] = "US",
    indicators_dir: IndicatorsDirOption = None,
    show_errors: Annotated[int, typer.Option("--show-errors", min=0, help="Ads with mistakes listed in the table output.")] = 10,
    fmt: FormatOption = "table",
) -> None:
    """Per-category precision, recall and micro-F1 of the indicator rules on a hand-labelled gold set."""
    from scoring.evaluate_rules import EvaluationInputError
    from scoring.evaluate_rules import evaluate_indicators as run
    from scoring.extract import ExtractionConfigError
    from scoring.indicators import IndicatorConfigError
    from scoring.rules import RuleEngine

    fmt = _check_format(fmt)
    try:
        engine = RuleEngine(_indicators_dir(indicators_dir), default_region=region.upper())
        report = run(gold, engine)
    except (EvaluationInputError, IndicatorConfigError, ExtractionConfigError) as exc:
        raise _fail(str(exc)) from exc
    if fmt == "json":
        print(json.dumps({"gold": str(gold), **report.to_dict()}, ensure_ascii=False))
        return
    table = Table(title=f"Indicators: {gold.name} ({report.ads} ads)")
    for col in ("category", "tp", "fp", "fn", "precision", "recall", "F1"):
        table.add_column(col, justify="left" if col == "category" else "right")

    def row(name: str, prf, style: str | None = None) -> None:  # type: ignore[no-untyped-def]
        table.add_row(name, str(prf.tp), str(prf.fp), str(prf.fn), f"{prf.precision:.3f}",
                      f"{prf.recall:.3f}", f"{prf.f1:.3f}", style=style)

    for cat, prf in sorted(report.per_category.items()):
        row(cat, prf)
    table.add_section()
    for lang, prf in sorted(report.per_language.items()):
        row(f"micro ({lang})", prf, "cyan")
    row("micro (all)", report.micro, "bold")
    console.print(table)
    if report.lang_accuracy is not None:
        console.print(f"language identification: {report.lang_correct}/{report.lang_total} = {report.lang_accuracy:.1%}")
    for e in report.errors[:show_errors]:
        console.print(f"[yellow]error[/] {e['id']} ({e['lang']}): missed {e['missed']} spurious {e['spurious']}")

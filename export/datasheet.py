"""``DATASHEET.md`` and ``datasheet.json`` of an export: figures counted while rows are written, and the
fixed text of ``export/datasheet.yml`` (motivation, collection, labelling, de-identification, splits,
known biases, terms of use), after "Datasheets for Datasets" (Gebru et al., CACM 64(12), 2021).

Nothing personal goes in: counts, site profile names, dates, model versions, indicator categories.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

TEXT_FILE = Path(__file__).resolve().parent / "datasheet.yml"
"""The fixed text of every datasheet."""


def load_text(path: Path = TEXT_FILE) -> dict[str, Any]:
    """The fixed datasheet text (``datasheet.yml``) as a dict."""
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


@dataclass
class DatasetStats:
    """Figures of an export, updated row by row with :meth:`add`."""

    rows: int = 0
    by_split: Counter[str] = field(default_factory=Counter)
    by_type: Counter[str] = field(default_factory=Counter)
    by_site: Counter[str] = field(default_factory=Counter)
    site_types: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    site_range: dict[str, list[str]] = field(default_factory=dict)
    labels: Counter[str] = field(default_factory=Counter)
    labels_by_split: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    states: Counter[str] = field(default_factory=Counter)
    reviewers: Counter[int] = field(default_factory=Counter)
    agreement_sum: float = 0.0
    agreement_n: int = 0
    first_seen: list[str] = field(default_factory=list)  # [min, max]
    posted_at: list[str] = field(default_factory=list)
    model_versions: Counter[str] = field(default_factory=Counter)
    categories: Counter[str] = field(default_factory=Counter)
    replacements: Counter[str] = field(default_factory=Counter)

    @staticmethod
    def _range(bounds: list[str], value: str | None) -> None:
        if not value:
            return
        if not bounds:
            bounds.extend([value, value])
        else:
            bounds[0], bounds[1] = min(bounds[0], value), max(bounds[1], value)

    def add(self, row: dict[str, Any], replacements: Counter[str]) -> None:
        """Count one exported row (the dict written) and its de-identification replacements."""
        self.rows += 1
        split = row["split"]
        self.by_split[split] += 1
        self.by_type[row["ad_type"]] += 1
        self.by_site[row["site"]] += 1
        self.site_types[row["site"]][row["ad_type"]] += 1
        self._range(self.site_range.setdefault(row["site"], []), row["first_seen"])
        self._range(self.first_seen, row["first_seen"])
        self._range(self.posted_at, row["posted_at"])
        lab = row["labels"]
        if lab is None:
            key = "unlabelled"
        elif lab["label"] is not None:
            key = str(lab["label"])
        else:  # reviewers voted 1 and 0 as often (a tie), or only asked for more information
            key = "tie" if lab["n_votes"] else "needs_info"
        self.labels[key] += 1
        self.labels_by_split[split][key] += 1
        if lab is not None:
            self.states[lab["state"]] += 1
            self.reviewers[lab["n_reviewers"]] += 1
            if lab["agreement"] is not None:
                self.agreement_sum += lab["agreement"]
                self.agreement_n += 1
        if row["model_version"]:
            self.model_versions[row["model_version"]] += 1
        self.categories.update({h["category"] for h in row["indicators"]})
        self.replacements.update(replacements)


def build_datasheet(stats: DatasetStats, params: dict[str, Any], groupings: dict[str, Any],
                    files: dict[str, Any], created_at: str, *, warnings: list[str] | None = None,
                    time_basis: dict[str, int] | None = None) -> dict[str, Any]:
    """The ``datasheet.json`` object.

    Args:
        stats: the export's figures.
        params: export parameters (format, split method, fractions, seed, de-identification mode,
            labelled-only, pseudonym letters); never the operator or the secret.
        groupings: ``{grouping name: number of groups with two or more exported ads}``.
        files: ``{file name: {"rows": n, "sha256": hex}}`` of the data files.
        created_at: ISO 8601 UTC time of the export.
        warnings: sentences about the splits (:func:`export.splits.split_warnings`).
        time_basis: for a ``time`` split, ``{"posted_at": n, "first_seen": m}``: how many ads were
            ordered by their posting date and how many by first seen (:func:`export.splits.split_times`).
    """
    text = load_text()
    letters = params.get("pseudonym_letters") or 8
    return {
        "name": "adwatch ad export",
        "created_at": created_at,
        "parameters": params,
        "files": files,
        "fields": {
            "ad_id": "adwatch's id of the ad (stable within one installation)",
            "text": "title, blank line, body; contacts replaced (see de-identification)",
            "ad_type": "job, escort or other",
            "site": "site profile the ad was crawled from",
            "posted_at": "posting date (ISO 8601 date, YYYY-MM-DD) read from the site's date, relative dates "
                         "(\"3 days ago\") resolved against the crawl time; null when the site gave none or it "
                         "could not be read. Parquet: a date",
            "first_seen": "when adwatch first stored the ad (ISO 8601, UTC)",
            "indicators": "[{indicator_id, category, start, end}]: character offsets into the exported text",
            "risk": "adwatch's risk in [0, 1] from its newest score, or null",
            "model_version": "the model (or rules-only) that gave the risk",
            "labels": "{label (1, 0 or null), state, n_reviewers, n_votes, agreement, reasons} or null",
            "split": "train, validation or test",
        },
        "counts": {
            "rows": stats.rows,
            "by_split": dict(sorted(stats.by_split.items())),
            "by_ad_type": dict(sorted(stats.by_type.items())),
            "by_model_version": dict(sorted(stats.model_versions.items())),
            "indicator_categories": dict(sorted(stats.categories.items())),
        },
        "labels": {
            "distribution": dict(sorted(stats.labels.items())),
            "by_split": {s: dict(sorted(c.items())) for s, c in sorted(stats.labels_by_split.items())},
            "states": dict(sorted(stats.states.items())),
            "reviewers_per_ad": {str(k): v for k, v in sorted(stats.reviewers.items())},
            "mean_agreement": round(stats.agreement_sum / stats.agreement_n, 4) if stats.agreement_n else None,
            "how_made": " ".join(str(text.get("labelling", "")).split()),
        },
        "time_range": {
            "first_seen": {"min": stats.first_seen[0], "max": stats.first_seen[1]} if stats.first_seen else None,
            "posted_at": {"min": stats.posted_at[0], "max": stats.posted_at[1]} if stats.posted_at else None,
        },
        "sources": [
            {"site": site, "ads": n, "ad_types": dict(sorted(stats.site_types[site].items())),
             "first_seen_min": stats.site_range[site][0], "first_seen_max": stats.site_range[site][1]}
            for site, n in sorted(stats.by_site.items())
        ],
        "deidentification": {
            "mode": params.get("deidentification"),
            "replacements": dict(sorted(stats.replacements.items())),
            "method": " ".join(str(text.get("deidentification", "")).replace("{letters}", str(letters)).split()),
        },
        "splits": {
            "method": params.get("split"),
            "method_description": (text.get("split_methods") or {}).get(params.get("split"), ""),
            "fractions": params.get("fractions"),
            "groupings_kept_whole": groupings,
            "time_basis": time_basis,
            "description": " ".join(str(text.get("splits", "")).split()),
            "stability": " ".join(str((text.get("split_stability") or {}).get(params.get("split"), "")).split()),
        },
        "warnings": list(warnings or []),
        "motivation": " ".join(str(text.get("motivation", "")).split()),
        "collection": " ".join(str(text.get("collection", "")).split()),
        "known_biases": list(text.get("known_biases") or []),
        "terms_of_use": list(text.get("terms_of_use") or []),
    }


def _table(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return out


def render_markdown(sheet: dict[str, Any]) -> str:
    """``DATASHEET.md``: the datasheet object as a readable document."""
    c, lab, tr, de, sp = sheet["counts"], sheet["labels"], sheet["time_range"], sheet["deidentification"], sheet["splits"]
    p = sheet["parameters"]
    lines = [
        "# Datasheet: adwatch ad export", "",
        f"Created {sheet['created_at']}. Format {p.get('format')}, {c['rows']} ads, split method "
        f"`{p.get('split')}`, de-identification `{p.get('deidentification')}`"
        + (", labelled ads only" if p.get("labelled_only") else "") + ".", "",
        *(["## Warnings", "", *(f"- {w}" for w in sheet["warnings"]), ""] if sheet.get("warnings") else []),
        "## Motivation", "", sheet["motivation"], "",
        "## Composition", "",
        *_table(("field", "meaning"), list(sheet["fields"].items())), "",
        *_table(("ad type", "ads"), list(c["by_ad_type"].items())), "",
        *_table(("split", "ads"), list(c["by_split"].items())), "",
        "Time range (first seen, UTC): " + (f"{tr['first_seen']['min']} to {tr['first_seen']['max']}" if tr["first_seen"] else "none")
        + "; posted: " + (f"{tr['posted_at']['min']} to {tr['posted_at']['max']}" if tr["posted_at"] else "not given") + ".", "",
        "Scores by model version: " + (", ".join(f"{k} ({v})" for k, v in c["by_model_version"].items()) or "none") + ".", "",
        "Ads per indicator category: " + (", ".join(f"{k} ({v})" for k, v in c["indicator_categories"].items()) or "none") + ".", "",
        "## Sources", "", sheet["collection"], "",
        *_table(("site", "ads", "ad types", "first seen from", "to"),
                [(s["site"], s["ads"], ", ".join(f"{k} {v}" for k, v in s["ad_types"].items()), s["first_seen_min"],
                  s["first_seen_max"]) for s in sheet["sources"]]), "",
        "## Labels", "", lab["how_made"], "",
        *_table(("label", "ads"), list(lab["distribution"].items())), "",
        *_table(("split", *sorted(lab["distribution"])),
                [(s, *(d.get(k, 0) for k in sorted(lab["distribution"]))) for s, d in lab["by_split"].items()]), "",
        "Review states: " + (", ".join(f"{k} {v}" for k, v in lab["states"].items()) or "none")
        + ". Reviewers per labelled ad: " + (", ".join(f"{k}: {v} ads" for k, v in lab["reviewers_per_ad"].items()) or "none")
        + ". Mean agreement: " + (f"{lab['mean_agreement']:.3f}" if lab["mean_agreement"] is not None else "n/a") + ".", "",
        "## De-identification", "", de["method"], "",
        "Replacements: " + (", ".join(f"{k} {v}" for k, v in de["replacements"].items()) or "none") + ".", "",
        "## Splits", "", sp["description"], "",
        f"Method `{sp['method']}`: {sp['method_description']}. Target fractions (train, validation, test): "
        f"{sp['fractions']}. Groupings kept whole (groups of two or more ads): "
        + (", ".join(f"{k} {v}" for k, v in sp["groupings_kept_whole"].items()) or "none") + ".", "",
        *([(f"Ads ordered by posting date: {sp['time_basis'].get('posted_at', 0)}; by first seen (no posting "
            f"date): {sp['time_basis'].get('first_seen', 0)}."), ""] if sp.get("time_basis") else []),
        sp["stability"], "",
        "## Known biases and limitations", "", *(f"- {b}" for b in sheet["known_biases"]), "",
        "## Terms of use", "", *(f"- {t}" for t in sheet["terms_of_use"]), "",
        "## Files", "",
        *_table(("file", "rows", "sha256"), [(f, v["rows"], v["sha256"]) for f, v in sheet["files"].items()]), "",
    ]
    return "\n".join(lines)

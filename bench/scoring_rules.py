"""Throughput of the rule engine (normalise + language id + indicators + entities) against bare
``spacy.blank("en")`` tokenising the same texts, in the same run, on one core.

Usage::

    .venv/bin/python bench/scoring_rules.py [--n 5000] [--data data/difraud-job-scams/job_scams_validation.jsonl]
        [--repeat 3] [--profile out.prof]

Texts are the DIFrauD job-scam texts (real ads), repeated until ``--n`` are read. Each side is timed
``--repeat`` times, the two sides taking turns, after a warm-up over 200 texts, and the best time is
kept (the least disturbed run). Times are the process's CPU time (``time.process_time``) on one
core, so other programs running on the machine do not count against either side.
Thread pools are pinned to one thread before numpy/spaCy are imported. The last line printed is one
JSON object: ``{"ratio": ..., "rules_docs_per_s": ..., "tokenize_docs_per_s": ..., "n": ...}``, where
ratio = rules rate / tokenising rate (target >= 0.6).
"""

from __future__ import annotations

import os
import sys

# Python puts this script's folder first on sys.path; a sibling module named like a standard one
# (bench/queue.py) would then shadow it for every library imported below. Nothing here is imported
# from bench/, so the folder is dropped.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
             "VECLIB_MAXIMUM_THREADS", "BLIS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import json
import time
from itertools import cycle, islice
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load_texts(path: Path, n: int) -> list[str]:
    """``n`` texts from a JSON Lines file with a ``text`` field, repeated as needed.

    Raises:
        SystemExit: the file has no texts.
    """
    texts = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if line:
                t = json.loads(line).get("text")
                if isinstance(t, str) and t.strip():
                    texts.append(t)
    if not texts:
        raise SystemExit(f"no texts in {path}")
    return list(islice(cycle(texts), n))


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print both rates, the ratio, and a JSON line last."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=5000, help="texts per timed run (default 5000)")
    ap.add_argument("--data", type=Path, default=ROOT / "data/difraud-job-scams/job_scams_validation.jsonl")
    ap.add_argument("--repeat", type=int, default=5, help="timed runs per side; best kept")
    ap.add_argument("--region", default="US")
    ap.add_argument("--ad-type", choices=["job", "escort", "other"], default=None,
                    help="give every ad this type (default: none given, so it is inferred, the costlier path)")
    ap.add_argument("--profile", type=Path, help="write a cProfile of one rules run here")
    args = ap.parse_args(argv)
    try:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    except (AttributeError, OSError):
        pass

    import spacy

    from scoring.rules import RuleEngine

    texts = load_texts(args.data, args.n)
    chars = sum(len(t) for t in texts)
    tok = spacy.blank("en")
    engine = RuleEngine(ROOT / "config/indicators", default_region=args.region)

    def run_tokenize() -> None:
        for _doc in tok.pipe(texts, batch_size=64):
            pass

    def run_rules() -> None:
        for _a in engine.analyze_detailed(((t, args.ad_type) for t in texts), region=args.region):
            pass

    # warm-up: build every language pipeline, the language model, caches
    for _ in tok.pipe(texts[:200]):
        pass
    for _a in engine.analyze_detailed([(t, None) for t in texts[:200]]):
        pass
    for lang in engine.languages:
        engine._pipe(lang)

    best_tok = best_rules = float("inf")
    for _ in range(max(1, args.repeat)):
        t0 = time.process_time()
        run_tokenize()
        best_tok = min(best_tok, time.process_time() - t0)
        t0 = time.process_time()
        run_rules()
        best_rules = min(best_rules, time.process_time() - t0)

    if args.profile:
        import cProfile

        cProfile.runctx("run_rules()", globals(), {"run_rules": run_rules}, str(args.profile))

    tok_rate = len(texts) / best_tok
    rules_rate = len(texts) / best_rules
    ratio = rules_rate / tok_rate
    print(f"texts: {len(texts)} ({chars / len(texts):.0f} chars on average) from {args.data.name}")
    print(f"spacy.blank('en') tokenising: {tok_rate:,.0f} docs/s")
    print(f"rules (normalise + lang id + indicators + entities): {rules_rate:,.0f} docs/s")
    print(f"ratio: {ratio:.3f}")
    print(json.dumps({"ratio": round(ratio, 3), "rules_docs_per_s": round(rules_rate, 1),
                      "tokenize_docs_per_s": round(tok_rate, 1), "n": len(texts), "ad_type": args.ad_type}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

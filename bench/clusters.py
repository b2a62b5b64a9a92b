"""Template clustering at scale: MinHash LSH (datasketch) over N synthetic ads, time and peak memory.

Synthetic ads (fictional, no contact of a real person): ``--templates`` templates of 40-70 words,
each posted 5-95 times with the slots that vary in real templated ads (names, cities, ages, prices,
phone numbers 555-01xx, a few words swapped), plus 15% unique ads. Phases, on the same texts:

* ``baseline``: tokenise, shingle and hash every shingle (SHA-1, as datasketch does): the work any
  near-duplicate method must do, the figure clustering is compared with;
* ``cluster``: :func:`linking.templates.cluster_texts`: signatures, LSH queries and inserts,
  union-find (what ``linking.update`` does in memory for new ads);
* ``rebuild``: the LSH index rebuilt from the stored signature bytes (``ad_link.minhash``), what
  each nightly ``linking.update`` pays before querying its new ads;
* ``nightly``: ``--nightly`` new ads of known templates queried against the rebuilt index.

Quality against the generator's labels: pair precision and recall of the clusters.

Usage: ``python bench/clusters.py [--ads N] [--templates T] [--seed S]``. Prints time per phase
and peak memory (max RSS of the process); the last line is one JSON object with the figures and
the ratio ``cluster / baseline``. Target (issue 8): 100k ads in under 2 minutes and 2 GB on 2 cores.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import resource
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from linking.templates import (
    TemplateIndex,
    cluster_texts,
    decode_signature,
    encode_signature,
    shingles,
)

WORDS = ["new", "girl", "in", "town", "sweet", "young", "discreet", "available", "now", "call", "text", "incall", "outcall", "hotel", "visit", "friendly", "relaxing", "massage", "special", "offer", "tonight", "only", "real", "pictures", "no", "games", "hiring", "hostesses", "club", "housing", "free", "travel", "paid", "high", "salary", "no", "experience", "needed", "apply", "today", "agency", "abroad", "work", "visa", "contract", "restaurant", "cleaning", "staff", "warehouse", "shifts", "weekly", "pay", "cash", "bonus", "accommodation", "provided", "manager", "passport", "documents", "transport", "included", "young", "ladies", "wanted", "modeling", "dance", "bar", "europe", "asia"]
NAMES = ["Anna", "Maria", "Lia", "Sofia", "Nina", "Eva", "Kim", "Jade", "Rose", "Luna", "Mia", "Ivy"]
CITIES = ["Dallas", "Houston", "Austin", "Denver", "Phoenix", "Miami", "Atlanta", "Chicago", "Boston", "Seattle"]


def synth(n: int, n_templates: int, seed: int) -> tuple[list[tuple[int, str]], list[int]]:
    """``n`` ads ``(id, text)`` and their template label (-1: unique ad)."""
    rng = random.Random(seed)
    templates = [rng.choices(WORDS, k=rng.randint(40, 70)) for _ in range(n_templates)]
    texts: list[tuple[int, str]] = []
    labels: list[int] = []
    for i in range(n):
        if rng.random() < 0.15:
            words = rng.choices(WORDS, k=rng.randint(30, 70))
            label = -1
        else:
            label = rng.randrange(n_templates)
            words = list(templates[label])
            for _ in range(rng.randint(0, 3)):  # a few words swapped
                words[rng.randrange(len(words))] = rng.choice(WORDS)
        slots = (f"{rng.choice(NAMES)} {rng.randint(19, 29)} years in {rng.choice(CITIES)}, "
                 f"${rng.randint(60, 300)} call {rng.randint(200, 999)}-555-01{rng.randint(0, 99):02d}")
        cut = rng.randrange(len(words))
        texts.append((i, " ".join(words[:cut]) + " " + slots + " " + " ".join(words[cut:])))
        labels.append(label)
    return texts, labels


def baseline(texts: list[tuple[int, str]], k: int) -> int:
    """Tokenise, shingle and SHA-1 every shingle (the hashing datasketch does); returns a checksum."""
    acc = 0
    for _, text in texts:
        for sh in shingles(text, k):
            acc ^= int.from_bytes(hashlib.sha1(sh).digest()[:4], "little")
    return acc


def pair_quality(clusters: dict[int, int], labels: list[int]) -> dict[str, float]:
    """Pair precision and recall of ``clusters`` against the generator's template labels."""
    same_cluster = Counter(clusters.values())
    tp_by = Counter((clusters[i], labels[i]) for i in clusters if labels[i] >= 0)
    tp = sum(c * (c - 1) // 2 for c in tp_by.values())
    predicted = sum(c * (c - 1) // 2 for c in same_cluster.values())
    truth = sum(c * (c - 1) // 2 for lab, c in Counter(labels).items() if lab >= 0)
    return {"pair_precision": round(tp / predicted, 4) if predicted else 1.0,
            "pair_recall": round(tp / truth, 4) if truth else 1.0}


def peak_mb() -> float:
    """Peak resident memory of this process so far, MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print figures and a final JSON line."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ads", type=int, default=100_000)
    ap.add_argument("--templates", type=int, default=2_000)
    ap.add_argument("--nightly", type=int, default=5_000)
    ap.add_argument("--seed", type=int, default=8)
    ap.add_argument("--threshold", type=float, default=None, help="template threshold (default: the setting's)")
    args = ap.parse_args(argv)

    texts, labels = synth(args.ads + args.nightly, args.templates, args.seed)
    texts, nightly = texts[:args.ads], texts[args.ads:]
    print(f"{args.ads} synthetic ads from {args.templates} templates (+ {args.nightly} nightly ads); "
          f"peak RSS after generating {peak_mb():.0f} MB")
    from config.settings import AppSettings

    threshold = args.threshold if args.threshold is not None else AppSettings().linking.template_threshold
    k = TemplateIndex().shingle_words

    t0 = time.perf_counter()
    baseline(texts, k)
    t_base = time.perf_counter() - t0
    print(f"baseline  tokenise + shingle + SHA-1   {t_base:7.1f} s")

    index = TemplateIndex(threshold=threshold)
    t0 = time.perf_counter()
    clusters = cluster_texts(texts, index)
    t_cluster = time.perf_counter() - t0
    quality = pair_quality(clusters, labels)
    n_clusters = len(set(clusters.values()))
    print(f"cluster   signatures + LSH + union     {t_cluster:7.1f} s   {n_clusters} clusters of {len(clusters)} ads; "
          f"pair precision {quality['pair_precision']}, recall {quality['pair_recall']}; peak RSS {peak_mb():.0f} MB")

    blobs = [(key, encode_signature(sig)) for key, sig in index.sigs.items()]
    del index
    t0 = time.perf_counter()
    rebuilt = TemplateIndex(threshold=threshold)
    rebuilt.add_many((key, decode_signature(b)) for key, b in blobs)
    t_rebuild = time.perf_counter() - t0
    print(f"rebuild   LSH from {len(blobs)} stored signatures {t_rebuild:5.1f} s "
          f"({sum(len(b) for _, b in blobs) / 1e6:.0f} MB of signatures)")

    t0 = time.perf_counter()
    joined = 0
    for key, text in nightly:
        sig = rebuilt.signature(text)
        if sig is not None and rebuilt.neighbours(sig):
            joined += 1
        if sig is not None:
            rebuilt.add(key, sig)
    t_nightly = time.perf_counter() - t0
    print(f"nightly   {len(nightly)} new ads queried + added {t_nightly:5.1f} s   {joined} joined a cluster or ad")

    total = t_cluster + t_rebuild
    peak = peak_mb()
    print(f"total (cluster + rebuild) {total:.1f} s, peak RSS {peak:.0f} MB; target < 120 s and < 2048 MB")
    result: dict[str, Any] = {
        "ads": args.ads, "templates": args.templates, "threshold": threshold, "clusters": n_clusters, "clustered_ads": len(clusters),
        **quality, "baseline_s": round(t_base, 2), "cluster_s": round(t_cluster, 2), "rebuild_s": round(t_rebuild, 2),
        "nightly_ads": len(nightly), "nightly_s": round(t_nightly, 2), "peak_rss_mb": round(peak),
        "cluster_vs_baseline": round(t_cluster / t_base, 2) if t_base else None,
        "target_met": bool(total < 120 and peak < 2048),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Storage throughput: ads stored per second with their versions, scores, hits and entities.

For each backend (SQLite in a temporary file; PostgreSQL when ``ADWATCH_BENCH_POSTGRES_URL`` or
``ADWATCH_TEST_POSTGRES_URL`` is set; its ``public`` schema is emptied first) it measures, on the
same synthetic rows:

* ``repository``: :func:`storage.repository.upsert_ads` in batches (what a crawl does: lookups of
  existing ads and entities, HMACs, versions, one transaction per batch);
* ``recrawl``: the same ads again, unchanged (the nightly case: only ``last_seen`` moves);
* ``raw``: a plain batched Core ``INSERT`` of the same rows into the same tables with ids assigned
  in Python (no lookups): the ceiling the repository is compared with.

Usage: ``python bench/storage.py [--ads N] [--batch B]``. The last line is one JSON object with
the figures and the ratios ``repository / raw``. Target (issue 5): >= 5,000 ads/s on SQLite.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from storage.db import create_bare_engine, make_session_factory, upgrade
from storage.models import Ad, AdEntity, AdVersion, Entity, IndicatorHit, Score
from storage.repository import (
    AD_FIELDS,
    AdRecord,
    ScoreRecord,
    entity_hmac,
    mask_value,
    upsert_ads,
)

KEY = "bench-key"
WORDS = ["cook", "cleaner", "driver", "hotel", "staff", "visa", "passport", "housing", "provided", "weekly", "pay", "fee", "travel", "agency", "no", "experience", "needed", "apply", "now", "urgent", "hiring", "abroad", "salary", "bonus"]


def make_records(n: int, seed: int = 0) -> list[AdRecord]:
    """``n`` synthetic ads, each with one score, 3 indicator hits and 2 entities (phones 555-01xx)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        title = f"{rng.choice(WORDS).title()} wanted #{i}"
        body = " ".join(rng.choice(WORDS) for _ in range(60))
        phone = f"(212) 555-01{rng.randrange(100):02d}"
        txt = f"{title}\n\n{body}\n\nCall {phone} or mail jobs{i % 500}@example.org"
        p_start = txt.index(phone)
        e_mail = f"jobs{i % 500}@example.org"
        e_start = txt.index(e_mail)
        hits = [{"indicator_id": f"job.bench.{k}", "category": ("recruitment_fee", "document_request", "travel")[k],
                 "start": k * 3, "end": k * 3 + 3, "text": txt[k * 3:k * 3 + 3], "weight": 0.5} for k in range(3)]
        ents = [{"type": "phone", "value": "+1212555" + phone[-4:], "start": p_start, "end": p_start + len(phone), "text": phone},
                {"type": "email", "value": e_mail, "start": e_start, "end": e_start + len(e_mail), "text": e_mail}]
        out.append(AdRecord(
            canonical_url=f"https://bench.example.org/ad/{i}", url=f"https://bench.example.org/ad/{i}?ref=x",
            site="bench", ad_type="job", text=txt, content_sha256=f"{i:064x}",
            fields={"title": title, "body": body, "contact_raw": phone, "source": "html", "salary_min": 10.0},
            score=ScoreRecord(model_version="bench-1", risk=rng.random(), band=rng.choice(("low", "medium", "high")),
                              lang="en", categories=["recruitment_fee"], explanation={"top_features": [["word:fee", 0.2]]},
                              hits=hits, entities=ents),
        ))
    return out


def fresh_engine(url: str) -> Any:
    """A migrated engine on an empty database (PostgreSQL: the public schema is recreated)."""
    engine = create_bare_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    upgrade(engine)
    return engine


def bench_repository(url: str, records: list[AdRecord], batch: int) -> dict[str, float]:
    engine = fresh_engine(url)
    sessions = make_session_factory(engine)
    with sessions.begin() as s:  # the site row, as a crawl run would have made it
        upsert_ads(s, records[:1], hmac_key=KEY)
    t0 = time.perf_counter()
    for i in range(1, len(records), batch):
        with sessions.begin() as s:
            upsert_ads(s, records[i:i + batch], hmac_key=KEY)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    for i in range(0, len(records), batch):
        with sessions.begin() as s:
            counts = upsert_ads(s, records[i:i + batch], hmac_key=KEY)
            assert counts.unchanged == len(records[i:i + batch])
    again = time.perf_counter() - t0
    engine.dispose()
    return {"repository_ads_per_s": (len(records) - 1) / first, "recrawl_ads_per_s": len(records) / again}


def bench_raw(url: str, records: list[AdRecord], batch: int) -> float:
    engine = fresh_engine(url)
    entity_ids: dict[tuple[str, str], int] = {}
    ids = {"ad": 0, "ver": 0, "score": 0, "ae": 0}
    with engine.begin() as conn:
        site_id = conn.execute(text("insert into site (name, created_at) values ('bench', CURRENT_TIMESTAMP) returning id")).scalar()
    now = records and __import__("datetime").datetime.now(__import__("datetime").UTC)
    t0 = time.perf_counter()
    for i in range(0, len(records), batch):
        chunk = records[i:i + batch]
        ads, vers, scores, hits, ents, links = [], [], [], [], [], []
        for rec in chunk:
            ids["ad"] += 1
            ids["ver"] += 1
            ids["score"] += 1
            ad_id, ver_id, score_id = ids["ad"], ids["ver"], ids["score"]
            ads.append({"id": ad_id, "canonical_url": rec.canonical_url, "url": rec.url, "site": rec.site,
                        "site_id": site_id, "ad_type": rec.ad_type, "text": rec.text,
                        "content_sha256": rec.content_sha256, "version": 1, "first_seen": now, "last_seen": now,
                        "status": "active", "review_status": "new", **{k: rec.fields.get(k) for k in AD_FIELDS}})
            vers.append({"id": ver_id, "ad_id": ad_id, "version": 1, "content_sha256": rec.content_sha256,
                         "text": rec.text, "fields": rec.fields, "seen_at": now})
            s = rec.score
            assert s is not None
            scores.append({"id": score_id, "ad_id": ad_id, "ad_version_id": ver_id, "model_version": s.model_version,
                           "risk": s.risk, "band": s.band, "lang": s.lang, "categories": s.categories,
                           "explanation": s.explanation, "content_sha256": rec.content_sha256, "scored_at": now})
            hits.extend({"score_id": score_id, **h} for h in s.hits)
            for e in s.entities:
                h = entity_hmac(KEY, e["type"], e["value"])
                key = (e["type"], h)
                if key not in entity_ids:
                    entity_ids[key] = len(entity_ids) + 1
                    ents.append({"id": entity_ids[key], "type": e["type"], "value": e["value"], "value_hmac": h,
                                 "masked": mask_value(e["type"], e["value"]), "first_seen": now})
                links.append({"ad_id": ad_id, "entity_id": entity_ids[key], "type": e["type"], "start": e["start"],
                              "end": e["end"], "text": e["text"]})
        with engine.begin() as conn:
            conn.execute(insert(Ad.__table__), ads)
            conn.execute(insert(AdVersion.__table__), vers)
            conn.execute(insert(Score.__table__), scores)
            conn.execute(insert(IndicatorHit.__table__), hits)
            if ents:
                conn.execute(insert(Entity.__table__), ents)
            conn.execute(insert(AdEntity.__table__), links)
    elapsed = time.perf_counter() - t0
    engine.dispose()
    return len(records) / elapsed


def main() -> int:
    """Run the benchmark and print a table and a final JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ads", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    records = make_records(args.ads)
    backends: dict[str, str | None] = {}
    tmp = tempfile.mkdtemp(prefix="adwatch-bench-")
    backends["sqlite"] = f"sqlite:///{tmp}/repo.db"
    backends["postgresql"] = os.environ.get("ADWATCH_BENCH_POSTGRES_URL") or os.environ.get("ADWATCH_TEST_POSTGRES_URL")
    result: dict[str, Any] = {"ads": args.ads, "batch": args.batch, "hits_per_ad": 3, "entities_per_ad": 2}
    print(f"{args.ads} ads, batches of {args.batch}, each with 1 version, 1 score, 3 hits, 2 entities")
    for name, url in backends.items():
        if not url:
            print(f"{name:10s}  skipped (set ADWATCH_BENCH_POSTGRES_URL)")
            result[name] = None
            continue
        repo = bench_repository(url, records, args.batch)
        raw_url = f"sqlite:///{tmp}/raw.db" if name == "sqlite" else url
        raw = bench_raw(raw_url, records, args.batch)
        figures = {**{k: round(v) for k, v in repo.items()}, "raw_insert_ads_per_s": round(raw),
                   "repository_vs_raw": round(repo["repository_ads_per_s"] / raw, 3)}
        result[name] = figures
        print(f"{name:10s}  repository {figures['repository_ads_per_s']:>7} ads/s   recrawl (unchanged) "
              f"{figures['recrawl_ads_per_s']:>7} ads/s   raw insert {figures['raw_insert_ads_per_s']:>7} ads/s   "
              f"ratio {figures['repository_vs_raw']}")
    sqlite = result["sqlite"]
    result["sqlite_target_5000_met"] = bool(sqlite and sqlite["repository_ads_per_s"] >= 5000)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

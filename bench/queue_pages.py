"""Queue page time at scale: seeds SQLite databases of 100k and 1M scored ads and prints the
p50/p95 time of queue pages served by the review app (``GET /api/queue`` and the HTML ``/queue``).

Usage::

    .venv/bin/python bench/queue_pages.py                      # 100k and 1M ads (1M takes a few minutes to seed)
    .venv/bin/python bench/queue_pages.py --sizes 100000 --requests 100

Targets (issue 7): p95 under 100 ms at 100k ads and under 300 ms at 1M on SQLite.

Times are measured in-process around each request through Starlette's TestClient (the app's own
work plus the in-memory ASGI transport; no network). About ``--flagged`` of the ads are in the
medium/high band and therefore in the queue; every queued ad has one or two indicator hits.
The seeded database is kept in ``--dir`` and reused when it already holds the right number of ads.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

# bench/storage.py would shadow the storage package when this file is run as a script
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from sqlalchemy import func, insert, select

SITES = [f"site-{i:02d}" for i in range(20)]
CATEGORIES = ["youth", "third_party", "restricted_movement", "new_in_town", "recruitment_fee", "work_abroad",
              "housing_provided", "low_price", "urgency", "document_request"]


def seed(url: str, n: int, flagged: float, seed_value: int = 7) -> None:
    """Fill an empty adwatch database at ``url`` with ``n`` ads, one score each, review items for
    the flagged ones (state mostly ``new``) and their indicator hits, a user and an API token."""
    from storage.db import make_engine, make_session_factory
    from storage.models import Ad, IndicatorHit, ReviewItem, Score

    rng = random.Random(seed_value)
    engine = make_engine(url)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    batch = 20_000
    with engine.begin() as conn:
        for start in range(1, n + 1, batch):
            ids = range(start, min(start + batch, n + 1))
            ads, scores, items, hits = [], [], [], []
            for i in ids:
                seen = base + timedelta(minutes=i % 500_000)
                is_flagged = rng.random() < flagged
                risk = rng.uniform(0.35, 1.0) if is_flagged else rng.uniform(0.0, 0.34)
                band = "high" if risk >= 0.65 else "medium" if risk >= 0.35 else "low"
                kind = "escort" if i % 3 == 0 else "job"
                cats = rng.sample(CATEGORIES, rng.randint(1, 2)) if is_flagged else []
                title = f"Ad number {i} {' '.join(cats)}"
                text = f"{title}\n\nGenerated benchmark ad {i} with some words about work and pay."
                ads.append({"id": i, "canonical_url": f"http://bench.example.org/{i}", "url": f"http://bench.example.org/{i}",
                            "site": SITES[i % len(SITES)], "ad_type": kind, "title": title, "text": text,
                            "content_sha256": f"{i:064x}", "version": 1, "first_seen": seen, "last_seen": seen,
                            "status": "active", "review_status": "new", "location_raw": "Springfield"})
                scores.append({"id": i, "ad_id": i, "model_version": "bench", "risk": risk, "band": band,
                               "categories": cats, "explanation": {}, "content_sha256": f"{i:064x}", "scored_at": seen})
                if is_flagged:
                    state = "new" if rng.random() < 0.8 else rng.choice(["confirmed", "dismissed", "escalated", "needs_info"])
                    items.append({"ad_id": i, "score_id": i, "state": state, "priority": risk, "created_at": seen, "updated_at": seen})
                    for c in cats:
                        hits.append({"score_id": i, "indicator_id": f"bench.{c}", "category": c, "start": 0, "end": 5,
                                     "text": "Ad nu", "weight": 0.4})
            conn.execute(insert(Ad), ads)
            conn.execute(insert(Score), scores)
            if items:
                conn.execute(insert(ReviewItem), items)
            if hits:
                conn.execute(insert(IndicatorHit), hits)
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
    sessions = make_session_factory(engine)
    from webapp.security import make_hasher
    from webapp.users import add_user

    with sessions() as s:
        add_user(s, make_hasher(1, 64, 1), "bench", "analyst", None, actor="bench")
        s.commit()
    engine.dispose()


def ad_count(url: str) -> int:
    """Ads already in the database at ``url`` (0 when it does not exist yet)."""
    from storage.db import make_engine
    from storage.models import Ad

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.scalar(select(func.count(Ad.id))) or 0)
    finally:
        engine.dispose()


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values`` (milliseconds)."""
    return statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1] if len(values) > 1 else values[0]


def measure(url: str, requests: int) -> list[tuple[str, float, float]]:
    """``(case, p50 ms, p95 ms)`` for queue requests against the database at ``url``."""
    from fastapi.testclient import TestClient

    from storage.models import Score
    from webapp.app import create_app
    from webapp.settings import WebSettings
    from webapp.users import get_user, issue_token

    app = create_app(WebSettings(secret_key="bench-secret-" + "x" * 40, hmac_key="bench-hmac-" + "x" * 30,
                                 database_url=url))
    with app.state.sessions() as s:
        token = issue_token(s, get_user(s, "bench"), actor="bench")  # type: ignore[arg-type]
        s.commit()
        app.state.synced_score_id = s.scalar(select(func.max(Score.id)))  # review items were seeded directly
    client = TestClient(app, headers={"Authorization": f"Bearer {token}"})
    cases: dict[str, list[float]] = {}

    def timed(case: str, path: str, params: dict[str, str] | None = None) -> dict:
        t = time.perf_counter()
        r = client.get(path, params=params)
        cases.setdefault(case, []).append((time.perf_counter() - t) * 1000)
        assert r.status_code == 200, r.text
        return r.json()

    client.get("/api/queue")  # warm up
    for _ in range(requests):
        timed("api first page", "/api/queue")
    cursor = None
    for _ in range(requests):  # walk deeper and deeper with the keyset cursor
        body = timed("api next page (keyset, walking)", "/api/queue", {"cursor": cursor} if cursor else None)
        cursor = body["next_cursor"]
    for i in range(requests):
        timed("api filter site", "/api/queue", {"site": SITES[i % len(SITES)]})
    for i in range(requests):
        timed("api filter category", "/api/queue", {"category": CATEGORIES[i % len(CATEGORIES)]})
    for i in range(requests):
        timed("api filter band=medium", "/api/queue", {"band": "medium"})
    for i in range(requests):
        timed("api status=confirmed", "/api/queue", {"status": "confirmed"})
    # the HTML page, signed in with a session cookie made by the app's own signer
    from webapp.security import SESSION_COOKIE, SessionData, user_fingerprint

    with app.state.sessions() as s:
        user = get_user(s, "bench")
        assert user is not None
        cookie = app.state.signer.dumps(SessionData(user_id=user.id, fingerprint=user_fingerprint(user.password_hash, user.role, user.active)))
    page = TestClient(app, cookies={SESSION_COOKIE: cookie})
    for _ in range(requests):
        t = time.perf_counter()
        r = page.get("/queue")
        cases.setdefault("html /queue page", []).append((time.perf_counter() - t) * 1000)
        assert r.status_code == 200
    return [(k, pct(v, 0.5), pct(v, 0.95)) for k, v in cases.items()]


def main() -> None:
    """Seed (or reuse) each size, measure, print a table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="100000,1000000", help="comma-separated ad counts")
    ap.add_argument("--requests", type=int, default=50, help="requests per case")
    ap.add_argument("--flagged", type=float, default=0.2, help="share of ads in the queue (0..1)")
    ap.add_argument("--dir", default=tempfile.gettempdir(), help="folder for the benchmark databases")
    args = ap.parse_args()
    for n in (int(x) for x in args.sizes.split(",")):
        path = Path(args.dir) / f"adwatch-bench-queue-{n}.db"
        url = f"sqlite:///{path}"
        if not path.exists() or ad_count(url) != n:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            t = time.perf_counter()
            seed(url, n, args.flagged)
            print(f"seeded {n:,} ads in {time.perf_counter() - t:.0f} s ({path})")
        target = 100 if n <= 100_000 else 300
        print(f"\n{n:,} ads (~{args.flagged:.0%} queued), {args.requests} requests per case; target p95 < {target} ms")
        print(f"{'case':36} {'p50 ms':>8} {'p95 ms':>8}")
        for case, p50, p95 in measure(url, args.requests):
            print(f"{case:36} {p50:8.1f} {p95:8.1f}{'' if p95 < target else '  (over target)'}")


if __name__ == "__main__":
    main()

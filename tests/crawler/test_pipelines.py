"""Batched scoring (``ScoreAdPipeline``) and timed writes (``StoreAdPipeline``), with a stand-in scorer.

The scorer is replaced by :class:`FakeScorer` (no model, no spaCy), so these run in well under a
second; the real scorer in a scoring process is exercised by the end-to-end crawl tests.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import scrapy
from scrapy.utils.test import get_crawler

from crawler import pipelines
from crawler.items import AdItem
from crawler.pipelines import ScoreAdPipeline, StoreAdPipeline, score_batch
from crawler.spiders.base import AdStatusItem
from scoring.types import Ad, Score


class FakeScorer:
    """Scores ``risk = len(text) / 1000``; raises for an ad whose text contains ``boom``."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    def _one(self, ad: Ad) -> Score:
        if "boom" in ad.text:
            raise ValueError(f"cannot score {ad.id}")
        risk = min(len(ad.text) / 1000, 1.0)
        return Score(ad_id=ad.id, ad_type=ad.ad_type or "job", lang="en", risk=risk,
                     band="high" if risk >= 0.5 else "low", model_version="fake")

    def score_many(self, ads: list[Ad], batch_size: int = 64) -> Any:
        self.batches.append(len(ads))
        return [self._one(ad) for ad in ads]

    def score(self, ad: Ad) -> Score:
        return self._one(ad)


def ad_item(n: int, body: str = "Warehouse work, weekly pay.") -> AdItem:
    return AdItem(url=f"http://demo.example.org/jobs/{n}.html", canonical_url=f"http://demo.example.org/jobs/{n}.html",
                  site="demo", ad_type="job", title=f"Ad {n}", body=body)


@pytest.fixture()
def fake_scorer(monkeypatch: pytest.MonkeyPatch) -> FakeScorer:
    scorer = FakeScorer()
    monkeypatch.setattr(pipelines, "shared_scorer", lambda region: scorer)
    return scorer


def score_pipeline(**settings: Any) -> ScoreAdPipeline:
    crawler = get_crawler(settings_dict={"ADWATCH_SCORE_WORKERS": 0, **settings})
    return ScoreAdPipeline.from_crawler(crawler)


def test_full_batches_and_a_timed_tail_score_every_ad(fake_scorer: FakeScorer) -> None:
    pipe = score_pipeline(ADWATCH_SCORE_BATCH_SIZE=4, ADWATCH_SCORE_BATCH_SECONDS=0.05)
    items = [ad_item(n) for n in range(10)]

    async def run() -> list[Any]:
        return await asyncio.gather(*(pipe.process_item(item) for item in items))

    out = asyncio.run(run())
    assert out == items
    assert fake_scorer.batches == [4, 4, 2]  # the last two went when the 0.05 s timer fired
    assert all(item.score is not None and item.score.model_version == "fake" for item in items)
    stats = pipe.crawler.stats
    assert stats.get_value("adwatch/scored/low") == 10
    assert stats.get_value("adwatch/scored/batches") == 3


def test_close_spider_scores_what_is_buffered(fake_scorer: FakeScorer) -> None:
    pipe = score_pipeline(ADWATCH_SCORE_BATCH_SIZE=100, ADWATCH_SCORE_BATCH_SECONDS=60)
    items = [ad_item(n) for n in range(3)]

    async def run() -> list[Any]:
        waiting = [asyncio.ensure_future(pipe.process_item(item)) for item in items]
        await asyncio.sleep(0.01)
        assert not any(t.done() for t in waiting) and fake_scorer.batches == []
        await pipe.close_spider()  # the 60 s timer would be too late: close scores the buffer
        return await asyncio.gather(*waiting)

    assert asyncio.run(run()) == items
    assert fake_scorer.batches == [3]
    assert all(item.score is not None for item in items)


def test_a_bad_ad_fails_alone(fake_scorer: FakeScorer) -> None:
    pipe = score_pipeline(ADWATCH_SCORE_BATCH_SIZE=3, ADWATCH_SCORE_BATCH_SECONDS=60)
    items = [ad_item(0), ad_item(1, body="this one goes boom"), ad_item(2)]

    async def run() -> list[Any]:
        return await asyncio.gather(*(pipe.process_item(item) for item in items), return_exceptions=True)

    out = asyncio.run(run())
    assert out[0] is items[0] and out[2] is items[2]
    assert isinstance(out[1], ValueError) and "jobs/1.html" in str(out[1])
    assert items[1].score is None
    assert items[0].score.risk == pytest.approx(len("Ad 0\n\nWarehouse work, weekly pay.") / 1000)
    assert pipe.crawler.stats.get_value("adwatch/scored/failed") == 1
    assert pipe.crawler.stats.get_value("adwatch/scored/low") == 2


def test_status_news_passes_unscored(fake_scorer: FakeScorer) -> None:
    pipe = score_pipeline()
    news = AdStatusItem("http://demo.example.org/jobs/1.html", "seen", "HTTP 304", 304)
    assert asyncio.run(pipe.process_item(news)) is news
    assert fake_scorer.batches == []


def test_score_batch_falls_back_to_one_by_one() -> None:
    scorer = FakeScorer()
    ads = [Ad(id="a", text="fine"), Ad(id="b", text="boom"), Ad(id="c", text="also fine")]
    scores, errors = score_batch(scorer, ads)
    assert [s.ad_id if s else None for s in scores] == ["a", None, "c"]
    assert list(errors) == [1] and isinstance(errors[1], ValueError)


def test_store_writes_a_part_filled_buffer_after_flush_seconds(tmp_path: Path) -> None:
    db = tmp_path / "adwatch.db"
    crawler = get_crawler(settings_dict={"ADWATCH_DATABASE_URL": f"sqlite:///{db}", "ADWATCH_STORE_BATCH_SIZE": 100,
                                         "ADWATCH_STORE_FLUSH_SECONDS": 0.05, "ADWATCH_SITE": "demo"})
    crawler.spider = scrapy.Spider(name="demo")
    pipe = StoreAdPipeline.from_crawler(crawler)
    pipe.open_spider()
    item = ad_item(7)
    item.compute_content_sha256()

    async def run() -> None:
        pipe.process_item(item)
        assert pipe.buffer == [item]
        await asyncio.sleep(0.2)

    try:
        asyncio.run(run())
        assert pipe.buffer == []
        con = sqlite3.connect(db)
        assert con.execute("select canonical_url from ad").fetchall() == [("http://demo.example.org/jobs/7.html",)]
        con.close()
        assert crawler.stats.get_value("adwatch/stored/inserted") == 1
    finally:
        pipe.close_spider()
        pipe.engine.dispose()


def test_freeze_heap_pipeline_freezes_at_open_and_unfreezes_at_close() -> None:
    import gc

    crawler = get_crawler(settings_dict={})
    pipe = pipelines.FreezeHeapPipeline.from_crawler(crawler)
    assert gc.get_freeze_count() == 0
    try:
        pipe.open_spider()
        frozen = gc.get_freeze_count()
        assert frozen > 1000  # pytest, Scrapy and this test's objects: the whole live heap
        assert crawler.stats.get_value("adwatch/heap/frozen_objects") == frozen
    finally:
        pipe.close_spider()
    assert gc.get_freeze_count() == 0


def test_freeze_heap_pipeline_can_be_switched_off() -> None:
    from scrapy.exceptions import NotConfigured

    with pytest.raises(NotConfigured):
        pipelines.FreezeHeapPipeline.from_crawler(get_crawler(settings_dict={"ADWATCH_FREEZE_HEAP": False}))


def test_the_heap_freezes_after_every_other_pipeline_has_opened() -> None:
    from crawler import settings

    order = settings.ITEM_PIPELINES
    assert max(order, key=order.get) == "crawler.pipelines.FreezeHeapPipeline"

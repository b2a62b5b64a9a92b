"""Scrapy settings for adwatch's crawler (``scrapy.cfg`` points here).

Politeness defaults: robots.txt obeyed, an honest user agent with a contact URL, AutoThrottle on,
no media downloaded. The CLI overrides some of these from ``config.settings.AppSettings`` and the
site profile (see :func:`crawler.runner.build_settings`).
"""

from crawler.items import AdItem

BOT_NAME = "adwatch"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"

USER_AGENT = "adwatch/0.1 (+https://example.org/adwatch; research crawler for anti-trafficking review)"
ROBOTSTXT_OBEY = True

CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 8
DOWNLOAD_DELAY = 0.0
DOWNLOAD_TIMEOUT = 30
DOWNLOAD_MAXSIZE = 10 * 1024 * 1024
DOWNLOAD_WARNSIZE = 2 * 1024 * 1024
RETRY_ENABLED = True
RETRY_TIMES = 2

AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 0.5
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 4.0

COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False
MEDIA_ALLOW_REDIRECTS = False

REQUEST_FINGERPRINTER_CLASS = "crawler.fingerprint.CanonicalRequestFingerprinter"

DOWNLOADER_MIDDLEWARES = {
    # answers requests that carry an archived response (adwatch ingest-warc); before robots.txt (100)
    "crawler.warc.WarcReplayDownloaderMiddleware": 40,
    "crawler.middlewares.DropMediaDownloaderMiddleware": 50,
    "crawler.middlewares.IncrementalDownloaderMiddleware": 60,
    "crawler.middlewares.RetryBackoffDownloaderMiddleware": 70,
}

SPIDER_MIDDLEWARES = {
    # sees the spider's requests before Scrapy's DepthMiddleware (900) and OffsiteMiddleware
    "crawler.middlewares.TrapGuardSpiderMiddleware": 950,
}

EXTENSIONS = {
    # locks a JOBDIR and cleans Scrapy's state after a crash (NotConfigured without JOBDIR)
    "crawler.pipelines.JobdirGuardExtension": 0,
    # runs crawler.monitors.CrawlMonitorSuite when the spider closes (before StoreAdPipeline saves the stats)
    "spidermon.contrib.scrapy.extensions.Spidermon": 500,
    # writes the responses of flagged ads to WARC (NotConfigured without ADWATCH_WARC_OUT)
    "crawler.warc.WarcEvidenceExtension": 510,
}

# Spidermon (crawler/monitors.py): results land in the stats as adwatch/monitors/*
SPIDERMON_ENABLED = True
SPIDERMON_SPIDER_CLOSE_MONITORS = ("crawler.monitors.CrawlMonitorSuite",)
SPIDERMON_MIN_ITEMS = 1
SPIDERMON_EXPECTED_FINISH_REASONS = ["finished", "closespider_pagecount", "closespider_itemcount"]
SPIDERMON_MAX_ITEM_VALIDATION_ERRORS = 0
# keyed by item class: only AdItem is validated (AdStatusItem news passes unchecked)
SPIDERMON_VALIDATION_SCHEMAS = {AdItem: "crawler.monitors.AD_ITEM_SCHEMA"}
ADWATCH_MONITOR_MAX_ERROR_RATE = 0.5

ITEM_PIPELINES = {
    "crawler.pipelines.NormalizeAdPipeline": 100,
    "crawler.pipelines.DedupeAdPipeline": 200,
    # validation before scoring: the schema does not cover the score, and copying an item with its
    # score attached (ItemAdapter.asdict) cost about 0.2 s per 350 ads
    "spidermon.contrib.scrapy.pipelines.ItemValidationPipeline": 250,
    "crawler.pipelines.ScoreAdPipeline": 300,
    "crawler.pipelines.StoreAdPipeline": 400,
    # opens last (pipelines open in order, before the crawl starts) and closes first
    "crawler.pipelines.FreezeHeapPipeline": 1000,
}

# adwatch's own settings (read with getbool/getint in from_crawler)
ADWATCH_MEDIA_ENABLED = False
ADWATCH_STORE_ENABLED = True
ADWATCH_SCORE_ENABLED = True
ADWATCH_STORE_BATCH_SIZE = 100
ADWATCH_STORE_FLUSH_SECONDS = 10  # a part-filled store buffer is written this long after its first ad
ADWATCH_SCORE_WORKERS = 1  # scoring processes (crawler.pipelines.ScoreAdPipeline); 0 = score in the reactor thread
ADWATCH_SCORE_BATCH_SIZE = 32  # most ads scored together
ADWATCH_SCORE_BATCH_SECONDS = 0.5  # with 0 workers: a part-filled batch is scored this long after its first ad
ADWATCH_DATABASE_URL = None  # None: config.settings.AppSettings.database_url
ADWATCH_SITE = None  # site name recorded on the crawl run and the ads
ADWATCH_INCREMENTAL_ENABLED = True  # conditional requests + resume (crawler.middlewares)
ADWATCH_STORE_RAW_HTML = False  # keep each ad page's HTML (removed by `adwatch purge`)
ADWATCH_RETRY_BACKOFF = 1.0  # seconds before the first retry, doubled for each next one (profile: retry_backoff)
ADWATCH_WARC_OUT = None  # folder for evidence WARC files of flagged ads (crawler.warc); None = off
ADWATCH_WARC_MIN_BAND = "medium"  # lowest risk band whose responses go to the WARC
ADWATCH_TRAP_GUARD_ENABLED = True  # depth / query-variant / segment-repeat limits from the profile
ADWATCH_FREEZE_HEAP = True  # gc.freeze() the crawl process's heap at open (crawler.pipelines.FreezeHeapPipeline)

FEEDS: dict = {}
LOG_LEVEL = "INFO"

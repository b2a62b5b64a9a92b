"""Scrapy settings for adwatch's crawler (``scrapy.cfg`` points here).

Politeness defaults: robots.txt obeyed, an honest user agent with a contact URL, AutoThrottle on,
no media downloaded. The CLI overrides some of these from ``config.settings.AppSettings`` and the
site profile (see :func:`crawler.runner.build_settings`).
"""

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
    "crawler.middlewares.DropMediaDownloaderMiddleware": 50,
    "crawler.middlewares.IncrementalDownloaderMiddleware": 60,
}

EXTENSIONS = {
    # locks a JOBDIR and cleans Scrapy's state after a crash (NotConfigured without JOBDIR)
    "crawler.pipelines.JobdirGuardExtension": 0,
}

ITEM_PIPELINES = {
    "crawler.pipelines.NormalizeAdPipeline": 100,
    "crawler.pipelines.DedupeAdPipeline": 200,
    "crawler.pipelines.ScoreAdPipeline": 300,
    "crawler.pipelines.StoreAdPipeline": 400,
}

# adwatch's own settings (read with getbool/getint in from_crawler)
ADWATCH_MEDIA_ENABLED = False
ADWATCH_STORE_ENABLED = True
ADWATCH_SCORE_ENABLED = True
ADWATCH_STORE_BATCH_SIZE = 100
ADWATCH_DATABASE_URL = None  # None: config.settings.AppSettings.database_url
ADWATCH_SITE = None  # site name recorded on the crawl run and the ads
ADWATCH_INCREMENTAL_ENABLED = True  # conditional requests + resume (crawler.middlewares)
ADWATCH_STORE_RAW_HTML = False  # keep each ad page's HTML (removed by `adwatch purge`)

FEEDS: dict = {}
LOG_LEVEL = "INFO"

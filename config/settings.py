"""Typed application settings for adwatch (pydantic-settings).

Every value can be overridden from the environment with the prefix ``ADWATCH_``; nested values use
``__`` (for example ``ADWATCH_BANDS__HIGH=0.8``). Build settings with :func:`get_settings`; nothing is
read at import time.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
"""The project checkout (adwatch is installed in editable mode; shipped data lives beside the code)."""

CONFIG_DIR = Path(__file__).resolve().parent


class Bands(BaseModel):
    """Risk thresholds that turn a risk in [0, 1] into a band.

    ``risk >= high`` is ``high``; ``risk >= medium`` is ``medium``; below is ``low``. Ads in the
    medium and high bands are *flagged* and enter the analyst queue. The defaults were chosen on
    the grouped cross-validation of the shipped job-ad model (see ``models/*/card.md``): ``medium``
    keeps recall high for review, ``high`` asks for several independent indicators or a confident
    model.
    """

    medium: float = Field(0.35, ge=0.0, le=1.0)
    high: float = Field(0.65, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _ordered(self) -> Bands:
        if self.medium > self.high:
            raise ValueError(f"bands.medium ({self.medium}) must not exceed bands.high ({self.high})")
        return self

    def band(self, risk: float) -> str:
        """Return ``"low"``, ``"medium"`` or ``"high"`` for ``risk`` (a probability in [0, 1])."""
        if risk >= self.high:
            return "high"
        if risk >= self.medium:
            return "medium"
        return "low"


class CrawlSettings(BaseModel):
    """Crawler politeness defaults; a site profile may tighten them."""

    user_agent: str = "adwatch/0.1 (+https://example.org/adwatch; research crawler for anti-trafficking review)"
    obey_robots: bool = True
    download_delay: float = Field(0.0, ge=0.0, description="seconds between requests to one site")
    concurrent_requests_per_domain: int = Field(8, ge=1)
    download_timeout: float = Field(30.0, gt=0, description="seconds")
    download_maxsize: int = Field(10 * 1024 * 1024, gt=0, description="bytes")
    download_warnsize: int = Field(2 * 1024 * 1024, gt=0, description="bytes")
    autothrottle: bool = True
    store_batch_size: int = Field(100, ge=1, description="ads per database write")
    store_flush_seconds: float = Field(10.0, ge=0.0, description="seconds before a part-filled write buffer is written")
    score_workers: int = Field(1, ge=0, description="scoring processes per crawl process (0: score in the crawler)")
    score_batch_size: int = Field(32, ge=1, description="most ads scored together")
    redis_finished_ttl: int = Field(24 * 3600, ge=0, description="seconds a finished shared crawl's Redis keys live (0: for ever)")
    redis_unfinished_ttl: int = Field(7 * 24 * 3600, ge=0, description="seconds a stopped shared crawl's Redis keys live (0: for ever)")


DEV_HMAC_KEY = "adwatch-dev-only-hmac-key-change-me"
"""Development placeholder for :attr:`AppSettings.hmac_key`. NOT a secret: set ``ADWATCH_HMAC_KEY``
in any real installation (the scheduler and exports warn while it is in use)."""


class SchedulerSettings(BaseModel):
    """``adwatch schedule`` settings (APScheduler 3.x).

    ``misfire_grace_time`` is applied through the scheduler's ``job_defaults`` (a scheduler keyword
    of that name is silently ignored: agronholm/apscheduler#292): a nightly crawl whose time passed
    while the scheduler was down still runs if it starts within this many seconds.
    """

    misfire_grace_time: int = Field(6 * 3600, ge=1, description="seconds a late job may still start")
    jobdir: Path = Path(".adwatch/jobs")
    """Folder of per-site Scrapy JOBDIRs (relative to the working directory)."""
    max_workers: int = Field(4, ge=1, description="crawls that may run at the same time (one per site)")
    default_cron: str = "0 2 * * *"
    """Cron expression for enabled profiles without a ``[schedule]`` table."""
    default_timezone: str = "UTC"
    rescore_check_minutes: int = Field(30, ge=1, description="how often to look for a new model version")
    crawl_timeout: int = Field(12 * 3600, ge=60, description="seconds before a crawl subprocess is stopped")


class LinkingSettings(BaseModel):
    """Settings of contact networks and template clusters (``linking``; ``adwatch link``).

    Movement: a contact (phone, e-mail, handle) seen in ads from at least ``movement_cities``
    distinct cities within ``movement_days`` days. Traffickers move victims along circuits of cities
    (Ibanez and Suthers, HICSS 2014, tracked phone numbers across cities); independent workers also
    tour, so the signal is weak and its weight small. The defaults (3 cities in 30 days) are priors,
    not fitted values: no public labelled data exists to fit them.

    Risk feed (``linking.risk``): ``boost = 1 - (1 - size_weight * s)(1 - movement_weight * m)``
    with ``s = min(ads - 1, size_cap - 1) / (size_cap - 1)`` and ``m`` 1 when the network shows
    movement; the queue priority is ``1 - (1 - risk)(1 - boost)``. Both weights are kept below
    the medium band (0.35) so that a network alone never puts an ad in the queue; movement's weight
    equals the "new in town" indicator's (``config/indicators/escort.en.yml``, same source).

    Templates: ads whose word ``shingle_words``-grams have an estimated Jaccard similarity of at
    least ``template_threshold`` (MinHash with ``num_perm`` permutations, LSH from datasketch) join
    one cluster, as InfoShield (Lee et al., KDD 2021) groups ads by shared templates. 0.5 is a prior
    chosen on ``bench/clusters.py``'s synthetic templated ads (names, ages, cities, prices and
    phones varying, a few words swapped): pair precision 1.0 and recall 0.89 at 0.5 against 0.66 at
    0.6; it is not validated on real ads. Changing ``num_perm``, ``seed``, ``shingle_words`` or the
    threshold needs ``adwatch link --rebuild`` to apply to ads already linked.
    """

    contact_types: tuple[str, ...] = ("phone", "email", "handle")
    """Entity types that link ads into a network (normalised values, compared by keyed HMAC)."""
    movement_cities: int = Field(3, ge=2, description="N: distinct cities of one contact")
    movement_days: int = Field(30, ge=1, description="T: window in days")
    size_weight: float = Field(0.1, ge=0.0, lt=1.0, description="boost of a network of size_cap ads or more")
    size_cap: int = Field(20, ge=2, description="network size (ads) at which the size boost is full")
    movement_weight: float = Field(0.2, ge=0.0, lt=1.0, description="boost of a network showing movement")
    template_threshold: float = Field(0.5, gt=0.0, lt=1.0, description="estimated Jaccard similarity")
    num_perm: int = Field(128, ge=16, le=1024, description="MinHash permutations")
    shingle_words: int = Field(3, ge=1, le=8, description="words per shingle")
    seed: int = 1
    enabled_after_crawl: bool = True
    """Run ``linking.update`` at the end of every crawl run (cheap: only new or changed ads)."""


class AppSettings(BaseSettings):
    """All adwatch settings in one object.

    Attributes:
        database_url: SQLAlchemy URL. Default ``sqlite:///./adwatch.db`` (relative to the working
            directory). PostgreSQL: ``postgresql+psycopg://user:pass@host/db``.
        models_dir: folder holding ``<name>-<version>/`` model artifacts.
        model_name: which model folder the scorer loads (``None``: the newest one present).
        default_region: ISO 3166-1 alpha-2 region used to parse phone numbers written without a
            country code.
        bands: risk band thresholds.
        crawl: crawler politeness defaults.
        sites_dir: folder of ``<name>.toml`` site profiles.
        indicators_dir: folder of ``*.yml`` indicator lexicons.
        model_exclude_identity_terms: train the job-ad model with nationality and ethnicity
            terms removed from its features (``ADWATCH_MODEL_EXCLUDE_IDENTITY_TERMS=true``).
        hmac_key: secret for the keyed HMAC that links entities (phones, e-mails) across ads
            without storing them in exports. Default :data:`DEV_HMAC_KEY`, a development
            placeholder: set ``ADWATCH_HMAC_KEY`` in production. Changing it breaks links to
            entities stored under the old key.
        scheduler: ``adwatch schedule`` settings.
        linking: contact networks, movement and template clusters (:class:`LinkingSettings`).
    """

    model_config = SettingsConfigDict(env_prefix="ADWATCH_", env_nested_delimiter="__", extra="ignore")

    database_url: str = "sqlite:///./adwatch.db"
    models_dir: Path = PROJECT_ROOT / "models"
    model_name: str | None = None
    default_region: str = "US"
    bands: Bands = Bands()
    crawl: CrawlSettings = CrawlSettings()
    sites_dir: Path = CONFIG_DIR / "sites"
    indicators_dir: Path = CONFIG_DIR / "indicators"
    model_exclude_identity_terms: bool = False
    """Train the job-ad model without nationality and ethnicity terms (DIG lexicons in
    ``data/memex-dig-lexicons``; see ``scoring.features.IdentityTermFilter``). Read by ``adwatch train``."""
    hmac_key: str = DEV_HMAC_KEY  # development default, clearly not a secret: override in production
    scheduler: SchedulerSettings = SchedulerSettings()
    linking: LinkingSettings = LinkingSettings()
    export_secret: str | None = None
    """Key of the keyed pseudonyms of ``adwatch export --pseudonymize`` (``ADWATCH_EXPORT_SECRET``, at
    least 32 characters; no default: pseudonymizing is refused without it). Keep it to get the same
    pseudonyms in later exports; another secret gives unrelated pseudonyms. See ``export.deid``."""
    export_pseudonym_chars: int = Field(default=8, ge=4, le=32)
    """Letters per export pseudonym (4 bits each; 8 letters: two of 10,000 contacts collide with
    probability about 1 %)."""
    export_split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    """Target shares of ads in the train, validation and test splits of an export
    (``ADWATCH_EXPORT_SPLIT_FRACTIONS='[0.7, 0.15, 0.15]'``)."""


@lru_cache(maxsize=1)
def get_settings() -> AppSettings:
    """Return the process-wide settings, read from the environment on first call.

    Raises:
        pydantic.ValidationError: an ``ADWATCH_*`` variable holds a value of the wrong type or range.
    """
    return AppSettings()

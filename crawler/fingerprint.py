"""Request fingerprints on canonical URLs, so tracking parameters and fragments do not refetch a page."""

from __future__ import annotations

import hashlib
import json
from weakref import WeakKeyDictionary

from scrapy import Request

from crawler.text import canonicalize_url


class CanonicalRequestFingerprinter:
    """Scrapy ``REQUEST_FINGERPRINTER_CLASS``: SHA-1 of method, canonical URL and body.

    Two requests whose URLs differ only by a fragment, parameter order or ``utm_*`` tracking
    parameters get the same fingerprint (20 bytes), so the dupefilter fetches the page once.
    """

    def __init__(self) -> None:
        self._cache: WeakKeyDictionary[Request, bytes] = WeakKeyDictionary()

    @classmethod
    def from_crawler(cls, crawler: object) -> CanonicalRequestFingerprinter:
        """Build the fingerprinter (it reads no settings)."""
        return cls()

    def fingerprint(self, request: Request) -> bytes:
        """Return the 20-byte fingerprint of ``request``."""
        if request not in self._cache:
            data = json.dumps(
                [request.method, canonicalize_url(request.url), hashlib.sha1(request.body or b"").hexdigest()]
            )
            self._cache[request] = hashlib.sha1(data.encode()).digest()
        return self._cache[request]

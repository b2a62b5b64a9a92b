"""Shared helpers for the crawler extraction tests: saved real pages and the regression cases."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"

# The LinkedIn fixture pages were saved when the Deloitte posting was "2 days ago" and the search
# card for it carried datetime="2026-06-30"; fetching them "now" = 2026-07-02 matches that.
NOW = datetime(2026, 7, 2, 12, 0, tzinfo=UTC)

# The work24 detail page was saved on 2026-03-18 and its posting closes on 2026-04-01.
WORK24_NOW = datetime(2026, 3, 20, 9, 0, tzinfo=UTC)

LINKEDIN_DETAIL_URL = "https://www.linkedin.com/jobs-guest/jobs/api/jobPosting/4435125316"
LINKEDIN_SEARCH_URL = "https://www.linkedin.com/jobs/search?keywords=MLOps&location=Germany"
WORK24_LISTING_URL = (
    "https://www.work24.go.kr/wk/a/b/1200/retriveDtlEmpSrchList.do"
    "?pageIndex=1&resultCnt=10&sortField=DATE&sortOrderBy=DESC"
)
WORK24_DETAIL_URL = (
    "https://www.work24.go.kr/wk/a/b/1500/empDetailAuthView.do"
    "?wantedAuthNo=Dd04022603180062&infoTypeCd=VALIDATION&infoTypeGroup=tb_workinfoworknet"
)
WORK24_EXPIRED_URL = (
    "https://www.work24.go.kr/wk/a/b/1500/empDetailAuthView.do"
    "?wantedAuthNo=FAKE000000000000&infoTypeCd=VALIDATION&infoTypeGroup=tb_workinfoworknet"
)


def read_fixture(relative: str) -> str:
    """Text of ``tests/crawler/fixtures/<relative>`` (UTF-8)."""
    return (FIXTURES / relative).read_text(encoding="utf-8")


def load_case(name: str) -> dict[str, Any]:
    """A regression case copied from /work/shared/cases (``fixtures/cases/<name>.json``)."""
    return json.loads(read_fixture(f"cases/{name}.json"))

"""crawler.jsonld: JobPosting extraction from real-world (broken) JSON-LD."""

from __future__ import annotations

import pytest

from crawler.jsonld import extract_job_postings, is_job_posting, parse_jsonld_block
from crawler.pages import parse_detail
from tests.crawler.support import NOW, load_case

URL = "https://jobs.example.org/jobs/1"


def _page(*blocks: str, after_html: str = "") -> str:
    scripts = "".join(f'<script type="application/ld+json">{b}</script>' for b in blocks)
    return f"<html><head>{scripts}</head><body><p>page</p></body></html>{after_html}"


@pytest.mark.parametrize("variant", ["html_a", "html_b", "html_c"])
def test_case_crawl_01_wrapped_blocks(variant: str) -> None:
    """Trailing ';', <!-- --> wrapper, //<![CDATA[ ... //]]> wrapper: extruct 0.18 raises on each."""
    case = load_case("crawl-01-jsonld-wrapped")
    postings, broken = extract_job_postings(case["input"][variant], URL)
    assert len(postings) == case["expected"]["each"]["job_postings"]
    assert postings[0]["title"] == case["expected"]["each"]["title"]
    assert broken == 0


def test_case_crawl_01_items_come_out_of_parse_detail() -> None:
    case = load_case("crawl-01-jsonld-wrapped")
    for html in case["input"].values():
        result = parse_detail(html, URL, None, NOW)
        assert [i.title for i in result.items] == ["Cook"]
        item = result.items[0]
        assert (item.employer, item.body, item.posted_date, item.source) == (
            "Example Diner", "Line cook, evenings.", "2026-11-01", "jsonld"
        )


def test_case_crawl_02_graph_and_array_flattened_and_deduplicated() -> None:
    case = load_case("crawl-02-jsonld-graph-and-array")
    html = _page(case["input"]["block_1"], case["input"]["block_2"])
    postings, broken = extract_job_postings(html, URL)
    assert sorted(p["title"] for p in postings) == case["expected"]["job_postings"]
    assert broken == 0


def test_case_crawl_03_escaped_html_title_and_description() -> None:
    case = load_case("crawl-03-jsonld-escaped-html")
    block = (
        '{"@context": "https://schema.org", "@type": "JobPosting", '
        f'"title": "{case["input"]["title"]}", "description": "{case["input"]["description"]}"}}'
    )
    result = parse_detail(_page(block), URL, None, NOW)
    assert len(result.items) == 1
    assert result.items[0].title == case["expected"]["title"]
    assert result.items[0].body == case["expected"]["description_text"]


def test_truly_broken_block_is_counted_not_raised_and_others_survive() -> None:
    good = '{"@type": "JobPosting", "title": "Dishwasher"}'
    bad = '{"@type": "JobPosting", "title": '
    postings, broken = extract_job_postings(_page(good, bad), URL)
    assert [p["title"] for p in postings] == ["Dishwasher"]
    assert broken == 1
    result = parse_detail(_page(good, bad), URL, None, NOW)
    assert result.jsonld_broken == 1
    assert [i.title for i in result.items] == ["Dishwasher"]


def test_block_after_closing_html_is_found() -> None:
    """lxml puts a <script> that follows </html> outside the root element; extruct misses it."""
    html = _page('{"@type": "JobPosting", "title": "A"}', after_html=(
        '<script type="application/ld+json">{"@type": "JobPosting", "title": "C"}</script>'
    ))
    postings, broken = extract_job_postings(html, URL)
    assert [p["title"] for p in postings] == ["A", "C"]
    assert broken == 0


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        ('{"a": 1,}', [{"a": 1}]),  # trailing comma
        ('/* c */ {"a": "https://x.example.org//y"} // c', [{"a": "https://x.example.org//y"}]),
        ('{"a": 1}{"b": 2}', [{"a": 1}, {"b": 2}]),  # several values in one block
        ('{"a": 1},\n{"b": 2};', [{"a": 1}, {"b": 2}]),
        ('<!-- //<![CDATA[\n{"a": 1}\n//]]> -->', [{"a": 1}]),  # nested wrappers
        ('/*<![CDATA[*/{"a": 1}/*]]>*/', [{"a": 1}]),
        ('var data = {"a": 1};', [{"a": 1}]),
        ("{&quot;a&quot;: 1}", [{"a": 1}]),  # HTML-escaped JSON
        ('{"a": "two\nlines"}', [{"a": "two\nlines"}]),  # raw control character in a string
        ("", []),
        ("not json at all", None),
    ],
)
def test_parse_jsonld_block_cleaning(block: str, expected: object) -> None:
    assert parse_jsonld_block(block) == expected


def test_nested_types_lists_and_iris() -> None:
    blocks = [
        ('{"@context": "https://schema.org", "@type": "WebPage", '
         '"mainEntity": {"@type": ["JobPosting"], "title": "Nested"}}'),
        '{"@type": "http://schema.org/JobPosting", "title": "IRI"}',
        '{"@type": "Organization", "name": "Not a job"}',
    ]
    postings, _ = extract_job_postings(_page(*blocks), URL)
    assert [p["title"] for p in postings] == ["Nested", "IRI"]


def test_same_title_different_identifiers_are_two_postings() -> None:
    block = (
        '[{"@type": "JobPosting", "title": "Driver", "identifier": {"value": "1"}},'
        ' {"@type": "JobPosting", "title": "Driver", "identifier": {"value": "2"}},'
        ' {"@type": "JobPosting", "title": "Driver", "description": "merged in"}]'
    )
    postings, _ = extract_job_postings(_page(block), URL)
    assert len(postings) == 2
    assert postings[0]["description"] == "merged in"


def test_no_jsonld() -> None:
    assert extract_job_postings("<html><body><h1>x</h1></body></html>", URL) == ([], 0)
    assert extract_job_postings("", URL) == ([], 0)


def test_is_job_posting() -> None:
    assert is_job_posting({"@type": "JobPosting"})
    assert is_job_posting({"@type": ["Thing", "schema:JobPosting"]})
    assert not is_job_posting({"@type": "Organization"})
    assert not is_job_posting(["JobPosting"])

"""crawler.text: HTML to clean text and URL canonicalisation."""

from __future__ import annotations

import pytest

from crawler.text import (
    canonicalize_url,
    clean_inline,
    html_to_text,
    strip_tracking_params,
)


def test_blocks_become_paragraphs_and_br_a_line_break() -> None:
    html = "<div><h2>Cook</h2><p>Line one<br>line two</p><p>Second para</p></div>"
    assert html_to_text(html) == "Cook\n\nLine one\nline two\n\nSecond para"


def test_double_br_is_a_blank_line_and_list_items_are_lines() -> None:
    html = "<p>Intro<br><br>More</p><ul><li>a</li><li> b </li></ul>tail"
    assert html_to_text(html) == "Intro\n\nMore\n\na\nb\n\ntail"


def test_scripts_styles_comments_and_whitespace_dropped() -> None:
    html = (
        "<html><head><title>T</title><style>.x{}</style></head><body>"
        "<script>var a = 1;</script>Night&nbsp;&nbsp;shift,\n   weekly <!-- hidden --> pay."
        "<noscript>enable js</noscript></body></html>"
    )
    assert html_to_text(html) == "Night shift, weekly pay."


def test_inline_tags_do_not_split_words() -> None:
    assert html_to_text("<p>Night shift, <b>weekly</b> pay.</p>") == "Night shift, weekly pay."


@pytest.mark.parametrize(
    "escaped",
    [
        "&lt;p&gt;Night shift, &lt;b&gt;weekly&lt;/b&gt; pay.&lt;/p&gt;",  # crawl-03
        "&amp;lt;p&amp;gt;Night shift, &amp;lt;b&amp;gt;weekly&amp;lt;/b&amp;gt; pay.&amp;lt;/p&amp;gt;",
        "<div>&lt;p&gt;Night shift, &lt;b&gt;weekly&lt;/b&gt; pay.&lt;/p&gt;</div>",
    ],
)
def test_escaped_html_is_unescaped_then_stripped(escaped: str) -> None:
    assert html_to_text(escaped) == "Night shift, weekly pay."


def test_escaped_blocks_keep_paragraphs() -> None:
    assert html_to_text("&lt;p&gt;One&lt;/p&gt;&lt;p&gt;Two&lt;/p&gt;") == "One\n\nTwo"


def test_plain_text_keeps_its_line_structure() -> None:
    assert html_to_text("First  line\nsecond\n\n\n\nThird &amp; last ") == "First line\nsecond\n\nThird & last"


def test_empty_inputs() -> None:
    assert html_to_text("") == ""
    assert html_to_text(None) == ""
    assert html_to_text("<div>  </div>") == ""
    assert clean_inline("   ") is None
    assert clean_inline(None) is None


def test_clean_inline_is_one_line() -> None:
    assert clean_inline("  Events &amp;\n Marketing ") == "Events & Marketing"
    assert clean_inline("<span>Berlin,<br> Germany</span>") == "Berlin, Germany"


def test_canonicalize_url() -> None:
    url = "HTTPS://Www.Example.ORG:443/jobs/7?z=1&utm_source=mail&a=2&UTM_Campaign=x&fbclid=abc#apply"
    assert canonicalize_url(url) == "https://www.example.org/jobs/7?a=2&z=1"


def test_canonicalize_url_keeps_real_ports_and_adds_root_path() -> None:
    assert canonicalize_url("http://127.0.0.1:8765/jobs/1?b=2&a=1") == "http://127.0.0.1:8765/jobs/1?a=1&b=2"
    assert canonicalize_url("https://example.org") == "https://example.org/"


def test_canonicalize_url_strips_linkedin_tracking() -> None:
    url = (
        "https://de.linkedin.com/jobs/view/machine-learning-ops-engineer-m-w-d-in-berlin-at-deloitte-4435125316"
        "?position=1&pageNum=0&refId=7lroYzxzBdY6xPVsG6vumA%3D%3D&trackingId=GREHgN7ufYi4R1wi3JXUhg%3D%3D"
    )
    assert canonicalize_url(url, drop_params=["position", "pageNum"]) == (
        "https://de.linkedin.com/jobs/view/machine-learning-ops-engineer-m-w-d-in-berlin-at-deloitte-4435125316"
    )


def test_canonicalize_url_leaves_non_http_alone() -> None:
    assert canonicalize_url(" mailto:jobs@example.org ") == "mailto:jobs@example.org"


def test_strip_tracking_params_keeps_order() -> None:
    url = "https://example.org/a?z=1&utm_medium=x&a=2#top"
    assert strip_tracking_params(url) == "https://example.org/a?z=1&a=2#top"
    assert strip_tracking_params(url, keep_fragment=False) == "https://example.org/a?z=1&a=2"


def test_pathological_nesting_does_not_hit_the_recursion_limit() -> None:
    """Real craigslist spam nests thousands of <small> tags (libcraigscrape posting fixtures)."""
    html = "<div>" + "<small>" * 5000 + "deep" + "</small>" * 5000 + "</div><p>after</p>"
    assert html_to_text(html) == "deep\n\nafter"

"""crawler.profiles: loading and validating site profiles."""

from __future__ import annotations

from pathlib import Path

import pytest

from crawler.profiles import ProfileError, SiteProfile, list_profiles, load_profile

MINIMAL = 'name = "mini"\nstart_urls = ["/jobs/"]\n'


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_real_site_profiles_load_from_the_settings_sites_dir() -> None:
    linkedin = load_profile("linkedin-guest")
    work24 = load_profile("work24")
    assert (linkedin.enabled, work24.enabled) == (False, False)
    assert linkedin.links.detail == ["a.base-card__full-link::attr(href)"]
    assert work24.fields.expired == ["body > form#frm:only-child"]
    assert work24.default_region == "KR"
    assert work24.resolved_start_urls()[0].startswith("https://www.work24.go.kr/wk/a/b/1200/")
    assert all(u.startswith("https://www.linkedin.com/") for u in linkedin.resolved_start_urls())


def test_selectors_are_always_lists_and_defaults_apply(tmp_path: Path) -> None:
    _write(tmp_path, "mini", MINIMAL + '[fields]\ntitle = "h1::text"\nbody = ["div.a", "div.b", ""]\n')
    profile = load_profile("mini", sites_dir=tmp_path)
    assert profile.fields.title == ["h1::text"]
    assert profile.fields.body == ["div.a", "div.b"]
    assert profile.fields.employer == []
    assert (profile.spider, profile.ad_type, profile.enabled, profile.max_pages) == ("jobboard", "job", True, 0)


def test_load_by_path(tmp_path: Path) -> None:
    path = _write(tmp_path, "mini", MINIMAL)
    assert load_profile(str(path)).name == "mini"


def test_name_defaults_to_the_file_stem(tmp_path: Path) -> None:
    _write(tmp_path, "stem", 'start_urls = ["https://example.org/"]\n')
    assert load_profile("stem", sites_dir=tmp_path).name == "stem"


def test_unknown_key_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "mini", MINIMAL + "[fields]\ntitel = 'h1::text'\n")
    with pytest.raises(ProfileError) as info:
        load_profile("mini", sites_dir=tmp_path)
    assert str(path) in str(info.value)
    assert "unknown key 'fields.titel'" in str(info.value)


def test_bad_toml_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "broken", 'name = "broken"\nstart_urls = [\n')
    with pytest.raises(ProfileError, match="invalid TOML") as info:
        load_profile("broken", sites_dir=tmp_path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    "extra",
    ['spider = "crawlspider"\n', "max_pages = -1\n", 'default_region = "USA"\n',
     '[links]\ndetail_url_pattern = "(unclosed"\n'],
)
def test_bad_values_are_errors(tmp_path: Path, extra: str) -> None:
    _write(tmp_path, "mini", MINIMAL + extra)
    with pytest.raises(ProfileError, match=r"mini\.toml: invalid site profile"):
        load_profile("mini", sites_dir=tmp_path)


def test_name_must_match_the_file_stem(tmp_path: Path) -> None:
    _write(tmp_path, "one", 'name = "two"\n')
    with pytest.raises(ProfileError, match="must equal the file name stem"):
        load_profile("one", sites_dir=tmp_path)


def test_missing_profile_lists_the_known_ones(tmp_path: Path) -> None:
    _write(tmp_path, "mini", MINIMAL)
    with pytest.raises(ProfileError, match=r"nope\.toml: no such site profile .*mini"):
        load_profile("nope", sites_dir=tmp_path)


def test_resolved_start_urls() -> None:
    profile = SiteProfile(name="p", start_urls=["/jobs/", "list?page=1", "https://other.example.org/x"])
    assert profile.resolved_start_urls("http://127.0.0.1:8765") == [
        "http://127.0.0.1:8765/jobs/",
        "http://127.0.0.1:8765/list?page=1",
        "https://other.example.org/x",
    ]
    assert profile.resolved_allowed_domains("http://127.0.0.1:8765") == ["127.0.0.1", "other.example.org"]
    with pytest.raises(ProfileError, match="relative and no base_url"):
        profile.resolved_start_urls()
    with_base = SiteProfile(name="q", base_url="http://localhost:9/", start_urls=["/a"])
    assert with_base.resolved_start_urls() == ["http://localhost:9/a"]


def test_list_profiles(tmp_path: Path) -> None:
    _write(tmp_path, "b", 'start_urls = ["https://b.example.org/"]\n')
    _write(tmp_path, "a", 'start_urls = ["https://a.example.org/"]\nenabled = false\n')
    assert [p.name for p in list_profiles(tmp_path)] == ["a", "b"]
    assert list_profiles(tmp_path / "missing") == []
    names = [p.name for p in list_profiles()]
    assert {"linkedin-guest", "work24"} <= set(names)


def test_is_detail_url() -> None:
    profile = load_profile("work24")
    assert profile.links.is_detail_url("https://www.work24.go.kr/wk/a/b/1500/empDetailAuthView.do?wantedAuthNo=X")
    assert not profile.links.is_detail_url("https://www.work24.go.kr/wk/a/b/1200/retriveDtlEmpSrchList.do")

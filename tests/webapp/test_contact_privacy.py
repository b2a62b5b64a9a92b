"""Trial 8, findings 1 and 2: nothing a role without contact access receives lets it recover a
contact: no keyed HMAC, no unmasked contact in decision notes or indicator passages, no text search
that answers "does this ad hold number X"; and the app refuses the public placeholder HMAC key."""

from __future__ import annotations

import pytest
import typer
from sqlalchemy import create_engine, select
from typer.testing import CliRunner

from config.settings import DEV_HMAC_KEY
from storage.models import Entity
from tests.webapp.conftest import PHONE, PHONE_TEXT, SECRET, csrf_of, fast_settings
from webapp.app import create_app
from webapp.errors import InsecureSecretError
from webapp.services import mask_free_text
from webapp.settings import ROLES, WebSettings

NOTE = "call 555-0147 check, mail lily@example.org, seen 2026-11-20, fee $500"
NOTE_MASKED = "call •••-•••• check, mail ••••@•••••••.•••, seen 2026-11-20, fee $500"


def _phone_hmac(db_url: str) -> str:
    eng = create_engine(db_url)
    try:
        with eng.connect() as conn:
            return conn.execute(select(Entity.value_hmac).where(Entity.type == "phone")).scalar_one()
    finally:
        eng.dispose()


def test_no_role_gets_a_contact_hmac_without_revealing(api, seeded, db_url) -> None:
    a = seeded.ads["escort_a"]
    digest = _phone_hmac(db_url)
    assert len(digest) >= 32
    for role in ROLES:
        r = api(role).get(f"/api/ads/{a}")
        assert r.status_code == 200
        assert digest not in r.text, role
        phone = next(e for e in r.json()["entities"] if e["type"] == "phone")
        assert set(phone) == {"entity_id", "type", "masked", "contact"}
        assert phone["masked"] == "+1******0147"
    # the researcher's pages carry neither the HMAC nor the number
    from fastapi.testclient import TestClient

    from tests.webapp.conftest import login

    with TestClient(api(None).app) as c:
        html = login(c, "researcher").get(f"/ads/{a}").text
    assert digest not in html and PHONE_TEXT not in html and PHONE not in html
    # an analyst's audited reveal may carry it (the value is shown anyway)
    body = api("analyst").post(f"/api/ads/{a}/reveal").json()
    assert [e["hmac"] for e in body["entities"] if e["type"] == "phone"] == [digest]


def test_text_search_cannot_test_candidate_numbers_without_contact_access(api, seeded) -> None:
    a, b = seeded.ads["escort_a"], seeded.ads["escort_b"]
    ids = lambda role, q: [i["ad_id"] for i in api(role).get("/api/queue", params={"q": q}).json()["items"]]
    for probe in ("555-0147", "212-555-0147", "0147"):
        assert ids("researcher", probe) == [], probe
        assert ids("analyst", probe) == [a, b], probe  # analysts may reveal: plain search
    assert ids("researcher", "555-0199") == []
    assert ids("researcher", "incall") == [a, b]  # words outside contacts still match
    assert ids("researcher", "sweet girl") == [a]


def test_decision_notes_are_masked_until_revealed(api, seeded, as_role) -> None:
    a = seeded.ads["escort_a"]
    assert api("analyst").post(f"/api/ads/{a}/decision", json={"decision": "escalate", "reason": "possible_minor",
                                                               "note": NOTE}).status_code == 200
    for role in ROLES:
        body = api(role).get(f"/api/ads/{a}").json()
        assert [d["note"] for d in body["decisions"]] == [NOTE_MASKED], role
        assert "555-0147" not in str(body) and "lily@example.org" not in str(body)
    page = as_role("researcher").get(f"/ads/{a}").text
    assert NOTE_MASKED in page and "555-0147" not in page and "lily@example.org" not in page
    assert [d["note"] for d in api("analyst").post(f"/api/ads/{a}/reveal").json()["decisions"]] == [NOTE]
    analyst = as_role("analyst")
    page = analyst.get(f"/ads/{a}").text
    assert NOTE_MASKED in page
    revealed = analyst.post(f"/ads/{a}/reveal", data={"csrf_token": csrf_of(page)}).text
    assert NOTE in revealed


def test_mask_free_text_covers_local_numbers_emails_and_handles() -> None:
    assert mask_free_text("call 555-0147 check") == "call •••-•••• check"
    assert mask_free_text("ring (415) 555-0132 / +12125550147") == "ring (•••) •••-•••• / +•••••••••••"
    assert mask_free_text("write to lily (at) example (dot) org") == "write to •••• (••) ••••••• (•••) •••"
    assert mask_free_text("dm @lily_xo") == "dm @••••_••"
    assert mask_free_text("seen 2026-11-20, fee $500, undoes #12") == "seen 2026-11-20, fee $500, undoes #12"
    assert mask_free_text("") == "" and mask_free_text(None) == ""


def test_indicator_passages_overlapping_a_contact_are_masked(api, app, seeded) -> None:
    """An indicator hit whose passage covers the phone must not carry it in ``indicators[].text``."""
    from storage.models import IndicatorHit, Score

    a = seeded.ads["escort_a"]
    with app.state.sessions() as s:
        score_id = s.scalar(select(Score.id).where(Score.ad_id == a))
        text = api("analyst").post(f"/api/ads/{a}/reveal").json()["text"]
        start = text.index("Call ")
        s.add(IndicatorHit(score_id=score_id, indicator_id="esc.test.call", category="contact_pressure",
                           start=start, end=start + len("Call 212-555-0147"), text="Call 212-555-0147", weight=0.1))
        s.commit()
    hit = next(h for h in api("researcher").get(f"/api/ads/{a}").json()["indicators"] if h["indicator_id"] == "esc.test.call")
    assert hit["text"] == "Call •••-•••-••••"
    hit = next(h for h in api("analyst").post(f"/api/ads/{a}/reveal").json()["indicators"]
               if h["indicator_id"] == "esc.test.call")
    assert hit["text"] == "Call 212-555-0147"


# ---------------------------------------------------------------- the HMAC key ------------------
@pytest.mark.parametrize("key", [DEV_HMAC_KEY, "", "change-me", "placeholder-hmac"])
def test_app_refuses_placeholder_hmac_key_outside_dev(db_url, key: str) -> None:
    with pytest.raises(InsecureSecretError, match="ADWATCH_HMAC_KEY is missing or the public development placeholder"):
        create_app(fast_settings(db_url, hmac_key=key))
    assert create_app(fast_settings(db_url, hmac_key=key, dev=True)) is not None


def test_hmac_key_is_read_from_the_environment(monkeypatch) -> None:
    monkeypatch.delenv("ADWATCH_HMAC_KEY", raising=False)
    assert WebSettings().hmac_key == DEV_HMAC_KEY and WebSettings().hmac_key_is_placeholder()
    monkeypatch.setenv("ADWATCH_HMAC_KEY", "k" * 40)
    assert WebSettings().hmac_key == "k" * 40 and not WebSettings().hmac_key_is_placeholder()


def _serve_app() -> typer.Typer:
    from cli.web import serve

    app = typer.Typer()
    app.command("serve")(serve)
    app.command("noop")(lambda: None)  # two commands: typer keeps "serve" as a sub-command name
    return app


def test_serve_refuses_placeholder_hmac_key_and_says_how_to_set_one(tmp_path, monkeypatch) -> None:
    import uvicorn

    started: list[str] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: started.append(kw["host"]))
    monkeypatch.setenv("ADWATCH_SECRET_KEY", SECRET)
    monkeypatch.delenv("ADWATCH_HMAC_KEY", raising=False)
    db = f"sqlite:///{tmp_path / 's.db'}"
    r = CliRunner().invoke(_serve_app(), ["serve", "--db", db])
    assert r.exit_code == 2 and started == []
    assert "ADWATCH_HMAC_KEY is missing or the public development placeholder" in r.output
    assert "secrets.token_urlsafe(32)" in r.output and "--dev" in r.output
    r = CliRunner().invoke(_serve_app(), ["serve", "--db", db, "--dev"])
    assert r.exit_code == 0 and started == ["127.0.0.1"]
    assert "ADWATCH_HMAC_KEY is the development placeholder" in r.output
    monkeypatch.setenv("ADWATCH_HMAC_KEY", "a-real-hmac-key-" + "x" * 30)
    r = CliRunner().invoke(_serve_app(), ["serve", "--db", db])
    assert r.exit_code == 0 and started == ["127.0.0.1", "127.0.0.1"]


def test_content_hashes_and_dataset_tokens_only_after_reveal(api, seeded) -> None:
    """Trial 8 re-check: an ad version's content hash is an unkeyed SHA-256 over fields holding the
    raw contact (with the masked text beside it, a guessed number can be confirmed), and a source's
    own #EMAIL_<sha256># tokens are unkeyed hashes too: neither reaches a role that may not reveal."""
    from tests.webapp.conftest import DATASET_TOKEN

    a, low = seeded.ads["escort_a"], seeded.ads["job_low"]
    for role in ("researcher", "analyst"):
        body = api(role).get(f"/api/ads/{a}").json()
        assert body["versions"] and all(v["content_sha256"] is None for v in body["versions"]), role
        text = api(role).get(f"/api/ads/{low}").text
        assert DATASET_TOKEN not in text and "3f3f3f3f" not in text, role
    revealed = api("analyst").post(f"/api/ads/{a}/reveal").json()
    assert revealed["versions"][0]["content_sha256"] == f"{1:064x}"
    assert DATASET_TOKEN in api("analyst").post(f"/api/ads/{low}/reveal").json()["text"]

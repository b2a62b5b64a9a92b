"""``adwatch users add/token`` and ``adwatch serve``'s refusal to start without a real secret
(commands mounted on a throw-away Typer app, as cli/main.py registers them)."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from cli.web import serve, users_app
from webapp.security import token_user_id


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("serve")(serve)
    app.add_typer(users_app, name="users")
    return app


def test_users_add_and_token(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("ADWATCH_ARGON2_MEMORY_KIB", "64")
    monkeypatch.setenv("ADWATCH_ARGON2_TIME_COST", "1")
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    run = CliRunner().invoke
    r = run(_app(), ["users", "add", "maria", "--role", "supervisor", "--password-stdin", "--db", db],
            input="a long enough password\n")
    assert r.exit_code == 0 and r.output.strip() == "added maria (supervisor)"
    r = run(_app(), ["users", "add", "maria", "--role", "analyst", "--password-stdin", "--db", db], input="another long password\n")
    assert r.exit_code == 2 and "already exists" in r.output
    r = run(_app(), ["users", "add", "bob", "--role", "boss", "--password-stdin", "--db", db], input="a long enough password\n")
    assert r.exit_code == 2 and "unknown role 'boss'" in r.output
    r = run(_app(), ["users", "add", "bob", "--password-stdin", "--db", db], input="short\n")
    assert r.exit_code == 2 and "shorter than 12" in r.output
    r = run(_app(), ["users", "token", "maria", "--db", db])
    assert r.exit_code == 0 and token_user_id(r.output.strip()) == 1
    r = run(_app(), ["users", "token", "nobody", "--db", db])
    assert r.exit_code == 2 and "no user named 'nobody'" in r.output


def test_serve_refuses_placeholder_secret(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("ADWATCH_SECRET_KEY", "change-me")
    r = CliRunner().invoke(_app(), ["serve", "--db", f"sqlite:///{tmp_path / 's.db'}"])
    assert r.exit_code == 2 and "ADWATCH_SECRET_KEY is missing or a placeholder" in r.output


def test_users_list_disable_enable_are_audited_and_take_effect(tmp_path, monkeypatch) -> None:
    import json

    from sqlalchemy import create_engine, select

    from storage.models import AuditEvent

    monkeypatch.setenv("ADWATCH_ARGON2_MEMORY_KIB", "64")
    monkeypatch.setenv("ADWATCH_ARGON2_TIME_COST", "1")
    db = f"sqlite:///{tmp_path / 'users.db'}"
    run = CliRunner().invoke
    r = run(_app(), ["users", "list", "--db", db])
    assert r.exit_code == 0 and "no users yet" in r.output
    for name, role in (("maria", "supervisor"), ("ravi", "researcher")):
        assert run(_app(), ["users", "add", name, "--role", role, "--password-stdin", "--db", db],
                   input="a long enough password\n").exit_code == 0
    r = run(_app(), ["users", "list", "--format", "json", "--db", db])
    rows = json.loads(r.output)
    assert [(u["username"], u["role"], u["active"], u["has_password"], u["last_login"]) for u in rows] == [
        ("maria", "supervisor", True, True, None), ("ravi", "researcher", True, True, None)]
    r = run(_app(), ["users", "disable", "ravi", "--db", db])
    assert r.exit_code == 0 and r.output.strip() == "ravi disabled"
    assert run(_app(), ["users", "disable", "ravi", "--db", db]).output.strip() == "ravi was already disabled"
    r = run(_app(), ["users", "list", "--db", db])
    assert r.exit_code == 0
    line = next(l for l in r.output.splitlines() if "ravi" in l)
    assert "researcher" in line and "disabled" in line
    assert "active" in next(l for l in r.output.splitlines() if "maria" in l)
    assert [u["active"] for u in json.loads(run(_app(), ["users", "list", "--format", "json", "--db", db]).output)] == [True, False]
    assert run(_app(), ["users", "enable", "ravi", "--db", db]).output.strip() == "ravi enabled"
    r = run(_app(), ["users", "disable", "nobody", "--db", db])
    assert r.exit_code == 2 and "no user named 'nobody'" in r.output
    assert run(_app(), ["users", "list", "--format", "xml", "--db", db]).exit_code == 2
    eng = create_engine(db)
    with eng.connect() as conn:
        events = conn.execute(select(AuditEvent.actor, AuditEvent.action, AuditEvent.target_id, AuditEvent.details)
                              .where(AuditEvent.action.in_(("user_disable", "user_enable"))).order_by(AuditEvent.id)).all()
    eng.dispose()
    assert [tuple(e) for e in events] == [
        ("cli", "user_disable", "2", {"username": "ravi", "changed": True}),
        ("cli", "user_disable", "2", {"username": "ravi", "changed": False}),
        ("cli", "user_enable", "2", {"username": "ravi", "changed": True})]


def test_disabled_user_loses_session_and_token_at_once(app, api, as_role) -> None:
    from webapp.users import get_user, set_active

    browser = as_role("analyst")
    client = api("analyst")
    assert client.get("/api/me").status_code == 200  # token now cached
    assert browser.get("/queue").status_code == 200
    with app.state.sessions() as s:
        assert set_active(s, get_user(s, "analyst"), False, actor="admin") is True
        s.commit()
    assert client.get("/api/me").status_code == 401
    r = browser.get("/queue", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    with app.state.sessions() as s:
        set_active(s, get_user(s, "analyst"), True, actor="admin")
        s.commit()
    assert client.get("/api/me").status_code == 200

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

"""``adwatch serve`` and ``adwatch users``: the review web app's commands.

Registered in :mod:`cli.main` (``app.command("serve")(serve)``, ``app.add_typer(users_app, name="users")``).
"""

from __future__ import annotations

import getpass
import json
import sys
from typing import Annotated

import typer

from cli.output import DbOption, console, err
from cli.output import fail as _fail

users_app = typer.Typer(help="Review-app accounts: add, list, disable and enable users; issue API tokens.",
                        no_args_is_help=True)


def _settings(db: str | None, dev: bool = False):  # type: ignore[no-untyped-def]
    from webapp.settings import WebSettings

    try:
        settings = WebSettings()
    except Exception as exc:  # pydantic.ValidationError
        raise _fail(f"bad configuration in ADWATCH_* environment variables:\n{exc}") from exc
    updates: dict[str, object] = {}
    if db:
        updates["database_url"] = db
    if dev:
        updates["dev"] = True
    return settings.model_copy(update=updates) if updates else settings


def _sessions(url: str):  # type: ignore[no-untyped-def]
    from storage.db import make_engine, make_session_factory
    from storage.errors import StorageError

    try:
        return make_session_factory(make_engine(url))
    except StorageError as exc:
        raise _fail(str(exc), 1) from exc


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on (127.0.0.1: this machine only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    dev: Annotated[bool, typer.Option("--dev", help="Development mode: accept a missing or placeholder ADWATCH_SECRET_KEY "
                                                     "and the placeholder ADWATCH_HMAC_KEY.")] = False,
    db: DbOption = None,
) -> None:
    """Run the analysts' review web app (queue, ad pages, decisions, audit log, JSON API under /api/).

    Needs ADWATCH_SECRET_KEY (a random value of at least 32 characters) and ADWATCH_HMAC_KEY (not the
    development placeholder; the same key the crawler stored contacts with) unless --dev. Behind an HTTPS
    proxy, session cookies are marked Secure from the X-Forwarded-Proto header of a trusted proxy
    (uvicorn's FORWARDED_ALLOW_IPS, default 127.0.0.1).
    """
    import uvicorn

    from storage.errors import StorageError
    from webapp.app import create_app
    from webapp.settings import InsecureSecretError

    settings = _settings(db, dev)
    try:
        application = create_app(settings)
    except InsecureSecretError as exc:
        raise _fail(str(exc)) from exc
    except StorageError as exc:
        raise _fail(str(exc), 1) from exc
    if settings.dev:
        err.print("[yellow]development mode:[/] do not expose this server to other people")
        if settings.hmac_key_is_placeholder():
            err.print("[yellow]warning:[/] ADWATCH_HMAC_KEY is the development placeholder; set a secret outside development")
    uvicorn.run(application, host=host, port=port, proxy_headers=True, log_level="info")


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="User name (no spaces).")],
    role: Annotated[str, typer.Option(help="analyst, supervisor, researcher or admin.")] = "analyst",
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from standard input (first line).")] = False,
    db: DbOption = None,
) -> None:
    """Add a review-app user with an argon2id password hash (asked for twice unless --password-stdin)."""
    from webapp.security import make_hasher
    from webapp.users import UserError, add_user

    settings = _settings(db)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass(f"password for {name}: ")
        if getpass.getpass("again: ") != password:
            raise _fail("the two passwords differ")
    hasher = make_hasher(settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism)
    sessions = _sessions(settings.database_url)
    with sessions() as session:
        try:
            user = add_user(session, hasher, name, role, password, actor="cli")
        except UserError as exc:
            raise _fail(str(exc)) from exc
        session.commit()
        typer.echo(f"added {user.username} ({user.role})")


@users_app.command("token")
def users_token(
    name: Annotated[str, typer.Argument(help="User name.")],
    db: DbOption = None,
) -> None:
    """Print a new API bearer token for NAME (the previous token stops working). Shown once."""
    from webapp.users import get_user, issue_token

    settings = _settings(db)
    sessions = _sessions(settings.database_url)
    with sessions() as session:
        user = get_user(session, name)
        if user is None:
            raise _fail(f"no user named {name!r} (add one with: adwatch users add {name} --role analyst)")
        token = issue_token(session, user, actor="cli")
        session.commit()
    typer.echo(token)


@users_app.command("list")
def users_list(
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    db: DbOption = None,
) -> None:
    """List review-app accounts: name, role, active or disabled, created, last sign-in."""
    from rich.table import Table

    from webapp.users import list_users

    if fmt not in ("table", "json"):
        raise _fail(f"--format must be table or json, got {fmt!r}")
    settings = _settings(db)
    with _sessions(settings.database_url)() as session:
        rows = list_users(session)
    if fmt == "json":
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    if not rows:
        console.print("no users yet (add one with: adwatch users add NAME --role analyst)")
        return
    table = Table(title="Review-app users")
    for col in ("user", "role", "status", "created", "last sign-in", "password"):
        table.add_column(col)
    for r in rows:
        table.add_row(str(r["username"]), str(r["role"]), "active" if r["active"] else "[red]disabled[/]",
                      str(r["created_at"] or "-")[:19], str(r["last_login"] or "never")[:19],
                      "set" if r["has_password"] else "none (API only)")
    console.print(table)


def _set_active(name: str, active: bool, db: str | None) -> None:
    from webapp.users import get_user, set_active

    settings = _settings(db)
    with _sessions(settings.database_url)() as session:
        user = get_user(session, name)
        if user is None:
            raise _fail(f"no user named {name!r} (see: adwatch users list)")
        changed = set_active(session, user, active, actor="cli")
        session.commit()
    state = "enabled" if active else "disabled"
    typer.echo(f"{name} {state}" if changed else f"{name} was already {state}")


@users_app.command("disable")
def users_disable(
    name: Annotated[str, typer.Argument(help="User name.")],
    db: DbOption = None,
) -> None:
    """Disable NAME: no sign-in, open sessions end and the API token is refused from the next request. Audited."""
    _set_active(name, False, db)


@users_app.command("enable")
def users_enable(
    name: Annotated[str, typer.Argument(help="User name.")],
    db: DbOption = None,
) -> None:
    """Enable NAME again (its password and newest API token work again). Audited."""
    _set_active(name, True, db)

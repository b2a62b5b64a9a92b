"""``adwatch link`` messages (trial 8, finding 16): what was linked, what the database holds when
nothing is new, and a wrong database URL that would silently create an empty database."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from cli.main import app
from storage.db import make_engine, make_session_factory
from tests.linking.conftest import make_ad, store


def _db(tmp_path: Path, n_ads: int) -> str:
    url = f"sqlite:///{tmp_path / 'link.db'}"
    engine = make_engine(url)
    with make_session_factory(engine).begin() as s:
        if n_ads:
            store(s, *[make_ad(i, f"Sweet girl number {i} in town tonight, incall only.",
                               contacts=[("phone", "+12125550147")], city=["Dallas", "Houston"][i % 2])
                       for i in range(n_ads)])
    engine.dispose()
    return url


def test_link_then_nothing_new_says_what_the_database_holds(tmp_path) -> None:
    url = _db(tmp_path, 3)
    run = CliRunner().invoke
    first = run(app, ["link", "--db", url])
    assert first.exit_code == 0, first.output
    out = " ".join(first.output.split())
    assert out.startswith("linked 3 new or changed ads in ")
    assert out.endswith("The database now holds 1 contact network (0 with movement) and 1 template cluster over "
                        "3 linked ads.")
    second = run(app, ["link", "--db", url])
    assert second.exit_code == 0
    assert " ".join(second.output.split()) == (
        "nothing new to link: every stored ad was already linked. The database holds 1 contact network "
        "(0 with movement) and 1 template cluster over 3 linked ads.")
    data = json.loads(run(app, ["link", "--db", url, "--format", "json"]).output)
    assert data["ads"] == 0
    assert data["database"] == {"ads": 3, "linked_ads": 3, "networks": 1, "networks_with_movement": 0,
                                "clusters": 1, "signatures": 3}


def test_link_refuses_a_missing_sqlite_file_instead_of_creating_it(tmp_path) -> None:
    missing = tmp_path / "typo.db"
    r = CliRunner().invoke(app, ["link", "--db", f"sqlite:///{missing}"])
    assert r.exit_code == 2
    out = " ".join(r.output.split())
    assert f"no database at {missing} (from --db): nothing to link." in out
    assert not missing.exists()


def test_link_warns_when_the_database_holds_no_ads(tmp_path) -> None:
    url = _db(tmp_path, 0)
    r = CliRunner().invoke(app, ["link", "--db", url])
    assert r.exit_code == 0
    out = " ".join(r.output.split())
    assert f"warning: the database at {url} holds no ads: is --db or ADWATCH_DATABASE_URL right?" in out
    assert "nothing new to link" in out

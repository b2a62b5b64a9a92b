"""``adwatch train --from-db``: analysts' decisions in the review database as training labels.

The fixture database is built once per module through the storage API (``upsert_ads``) and the
review-app services (``add_user``, ``decide``, ``undo_last``), with fictional ads (phones 555-01xx,
e-mails @example.org). Decision times are then set to fixed dates so the card's date range is exact.

Labels expected from the fixture (ad key: decisions -> label):

* ``fee``: ana confirm -> 1;  ``visa``: ana escalate -> 1;  ``clerk``: ana dismiss -> 0
* ``split``: ana confirm, bob dismiss -> tie, dropped
* ``majority``: ana confirm, bob confirm, cy dismiss -> 1
* ``changed_mind``: ana dismiss then ana confirm -> 1 (one reviewer, latest decision)
* ``info``: ana needs_info -> no vote;  ``undone``: ana confirm, undone -> no vote
* ``escort``: ana confirm on an escort ad -> left out (not a job ad)
* ``dismissed2``: ana dismiss, bob dismiss, cy confirm -> 0
* ``edited``: ana dismiss, then the ad changes -> 0, with the text the analyst saw (version 1)
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer
from sqlalchemy import select, update
from typer.testing import CliRunner

from cli.modeling import (
    DECISION_LABELS,
    CliInputError,
    decision_records,
    evaluate_files,
    train,
)
from scoring.datasets import (
    DatasetError,
    LabelledAd,
    assign_groups,
    check_trainable,
    labels_sha256,
    load_labelled,
    majority_label,
)
from storage.db import make_engine, make_session_factory
from storage.models import Ad, Decision, ReviewItem
from storage.repository import AdRecord, upsert_ads
from webapp.security import make_hasher
from webapp.services import decide, undo_last
from webapp.users import add_user

DATA = Path(__file__).resolve().parents[2] / "data"
STORED = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)
EDITED = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)

# The DIFrauD row on line 2 (id "job_scams_validation.jsonl:2") is copied into the "clerk" ad's body: it must share a group with it.
COPY_SOURCE = DATA / "difraud-job-scams/job_scams_validation.jsonl"

ADS: dict[str, tuple[str, str]] = {
    "fee": ("job", "Hotel staff abroad\n\nPay a $400 placement fee before travel. Call (415) 555-0132 to reserve a seat."),
    "visa": ("job", "Farm work in Canada\n\nWe keep your passport for safety. Apply at jobs@example.org, visa included."),
    "clerk": ("job", ""),  # filled with a copy of a training-file row, see _clerk_text()
    "split": ("job", "Warehouse pickers\n\nNight shifts, $18 an hour, forklift licence a plus. Ring 212-555-0147."),
    "majority": ("job", "Models wanted\n\nYoung girls for hostess work, housing provided, no experience, cash daily."),
    "changed_mind": ("job", "Nanny live-in\n\nFamily in Dubai seeks nanny, employer pays flight, salary held until end of contract."),
    "info": ("job", "Driver\n\nDelivery driver for a bakery, clean licence, early mornings. hr@example.org"),
    "undone": ("job", "Cleaners\n\nOffice cleaners for evening shifts in Leeds, weekly pay, uniform provided."),
    "escort": ("escort", "New in town\n\nSweet girl, incall only, text 312-555-0188."),
    "dismissed2": ("job", "Junior accountant\n\nAccounting firm hiring a junior accountant, CPA track, hybrid work."),
    "edited": ("job", "Line cook\n\nRestaurant in Austin needs a line cook, two years experience, tips shared."),
}
EDITED_TEXT = "Line cook\n\nRestaurant in Austin needs a line cook, pay a $150 uniform deposit first. 512-555-0199"


def _clerk_text() -> str:
    row = json.loads(COPY_SOURCE.read_text(encoding="utf-8").splitlines()[1])  # line 2
    return "Office clerk\n\n" + row["text"]


def _record(key: str, text: str, kind: str) -> AdRecord:
    title, _, body = text.partition("\n\n")
    url = f"http://jobs.example.org/ad/{key}"
    return AdRecord(canonical_url=url, url=url, site="fixture-jobs", ad_type=kind, text=text,
                    content_sha256=hashlib.sha256(text.encode()).hexdigest(),
                    fields={"title": title, "body": body, "contact_raw": "555-0100", "employer": "Fixture Ltd"})


@dataclass
class Fixture:
    path: Path
    url: str
    ids: dict[str, int]


@pytest.fixture(scope="module")
def fixture_db(tmp_path_factory: pytest.TempPathFactory) -> Fixture:
    path = tmp_path_factory.mktemp("review") / "review.db"
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    texts = {k: (kind, _clerk_text() if k == "clerk" else text) for k, (kind, text) in ADS.items()}
    with sessions() as s:
        upsert_ads(s, [_record(k, text, kind) for k, (kind, text) in texts.items()], now=STORED, hmac_key="k")
        ids = dict(s.execute(select(Ad.canonical_url, Ad.id)).tuples().all())
        ids = {k: ids[f"http://jobs.example.org/ad/{k}"] for k in ADS}
        hasher = make_hasher(1, 64, 1)
        ana, bob, cy = (add_user(s, hasher, n, "analyst", actor="test") for n in ("ana", "bob", "cy"))
        plan = [
            ("fee", ana, "confirm"), ("visa", ana, "escalate"), ("clerk", ana, "dismiss"),
            ("split", ana, "confirm"), ("split", bob, "dismiss"),
            ("majority", ana, "confirm"), ("majority", bob, "confirm"), ("majority", cy, "dismiss"),
            ("changed_mind", ana, "dismiss"), ("changed_mind", ana, "confirm"),
            ("info", ana, "needs_info"), ("undone", ana, "confirm"),
        ]
        for key, user, verb in plan:
            decide(s, ids[key], user, verb, "other")
        undone = undo_last(s, ana)
        assert undone is not None and (undone["ad_id"], undone["state"]) == (ids["undone"], "new")
        for key, user, verb in [("escort", ana, "confirm"), ("dismissed2", ana, "dismiss"),
                                ("dismissed2", bob, "dismiss"), ("dismissed2", cy, "confirm"),
                                ("edited", ana, "dismiss")]:
            decide(s, ids[key], user, verb, "other")
        # Fixed decision dates: every decision on the n-th ad of ADS is dated 2026-03-n.
        for n, key in enumerate(ADS, start=1):
            item = s.scalar(select(ReviewItem.id).where(ReviewItem.ad_id == ids[key]))
            s.execute(update(Decision).where(Decision.review_item_id == item)
                      .values(created_at=datetime(2026, 3, n, 12, 0, tzinfo=UTC)))
        # The "edited" ad changes after its decision: training must use the version the analyst saw.
        upsert_ads(s, [_record("edited", EDITED_TEXT, "job")], now=EDITED, hmac_key="k")
        s.commit()
    engine.dispose()
    return Fixture(path, url, ids)


@pytest.fixture()
def db_copy(fixture_db: Fixture, tmp_path: Path) -> str:
    dst = tmp_path / "copy.db"
    shutil.copy(fixture_db.path, dst)
    return f"sqlite:///{dst}"


EXPECTED = {"fee": 1, "visa": 1, "clerk": 0, "majority": 1, "changed_mind": 1, "dismissed2": 0, "edited": 0}


def test_decision_records_majority_ties_and_filters(fixture_db: Fixture) -> None:
    labels = decision_records(fixture_db.url)
    got = {r.id: r.label for r in labels.records}
    assert got == {f"db:{fixture_db.ids[k]}": v for k, v in EXPECTED.items()}
    assert (labels.ties_dropped, labels.not_job, labels.abstained) == (1, 1, 2)
    # decided on 2026-03-n for the n-th ad of ADS: fee is 1st, edited 11th
    assert (labels.decided_from, labels.decided_to) == ("2026-03-01", "2026-03-11")
    lines = sorted(f"{fixture_db.ids[k]}\t{v}\n" for k, v in EXPECTED.items())
    assert labels.labels_sha256 == hashlib.sha256("".join(lines).encode()).hexdigest()
    assert {r.source for r in labels.records} == {f"database {fixture_db.url}"}


def test_decision_records_use_the_version_the_analyst_saw(fixture_db: Fixture) -> None:
    rec = {r.id: r for r in decision_records(fixture_db.url).records}
    edited = rec[f"db:{fixture_db.ids['edited']}"]
    assert edited.text == ADS["edited"][1]
    assert edited.metadata["description"] == ADS["edited"][1].split("\n\n", 1)[1]
    assert "contact_raw" not in edited.metadata and edited.metadata["employer"] == "Fixture Ltd"


def test_decision_labels_input_entry_has_no_text_or_contact(fixture_db: Fixture) -> None:
    entry = decision_records(fixture_db.url).input_entry()
    assert {k: entry[k] for k in ("role", "rows", "fraudulent", "ties_dropped", "not_job", "abstained")} == {
        "role": "database", "rows": 7, "fraudulent": 4, "ties_dropped": 1, "not_job": 1, "abstained": 2}
    dumped = json.dumps(entry)
    assert "555" not in dumped and "example.org" not in dumped


def test_db_rows_are_grouped_with_copies_in_the_files(fixture_db: Fixture) -> None:
    files = load_labelled([COPY_SOURCE])
    db = decision_records(fixture_db.url).records
    combined = [*files, *db]
    assign_groups(combined)
    clerk = next(r for r in combined if r.id == f"db:{fixture_db.ids['clerk']}")
    assert clerk.group == next(r.group for r in combined if r.id == f"{COPY_SOURCE.name}:2")


def test_decision_labels_map_the_review_states() -> None:
    assert DECISION_LABELS == {"confirmed": 1, "escalated": 1, "dismissed": 0}
    assert majority_label([1, 1, 0]) == 1
    assert majority_label([0, 0, 1]) == 0
    assert majority_label([1, 0]) is None
    assert majority_label([]) is None
    assert labels_sha256([("2", 0), ("10", 1)]) == hashlib.sha256(b"10\t1\n2\t0\n").hexdigest()


def test_missing_or_empty_database_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CliInputError, match="database file not found"):
        decision_records(f"sqlite:///{tmp_path / 'nope.db'}")
    empty = tmp_path / "empty.db"
    make_engine(f"sqlite:///{empty}").dispose()
    with pytest.raises(CliInputError, match=r"empty\.db: no analyst decision usable as a training label \(0 reviewed"):
        decision_records(f"sqlite:///{empty}")


def _ad(i: int, label: int, source: str) -> LabelledAd:
    return LabelledAd(id=f"{source}:{i}", text=f"ad {i}", label=label, group=f"{source}:{i}", source=source)


def test_guard_names_the_source_on_a_single_class() -> None:
    ads = [_ad(i, 1, "database sqlite:///r.db") for i in range(8)]
    with pytest.raises(DatasetError, match=r"only one class: all 8 labelled ads have label 1 .*database sqlite:///r\.db: 8 rows, 8 labelled 1"):
        check_trainable(ads, 5)


def test_guard_names_the_sources_when_too_few_groups() -> None:
    ads = [_ad(i, 1, "database sqlite:///r.db") for i in range(4)] + [_ad(i, 0, "a.jsonl") for i in range(9)]
    with pytest.raises(DatasetError, match=r"needs >= 5 groups of each class .*got 4 with label 1 and 9 with label 0 "
                                           r"\(a\.jsonl: 9 rows, 0 labelled 1 .*; database sqlite:///r\.db: 4 rows, 4"
                                           r"|needs >= 5 groups of each class .*got 4 with label 1 and 9 with label 0 "
                                           r"\(database sqlite:///r\.db: 4 rows, 4 labelled 1 .*; a\.jsonl: 9 rows, 0"):
        check_trainable(ads, 5)
    with pytest.raises(DatasetError, match=r"no labelled ads to train on"):
        check_trainable([], 5)


# ------------------------------------------------------------------ the command ------------------

def _cli() -> typer.Typer:
    app = typer.Typer()
    app.command("train")(train)
    app.command("noop")(lambda: None)  # two commands, so "train" is addressed by name as in adwatch
    return app


def _small_file(tmp_path: Path) -> Path:
    """24 DIFrauD rows (8 fraudulent) beside the database rows: enough groups for 5-fold CV."""
    rows = [json.loads(line) for line in COPY_SOURCE.read_text(encoding="utf-8").splitlines()[2:]]  # not line 2
    pos = [r for r in rows if r["label"] == 1][:8]
    neg = [r for r in rows if r["label"] == 0][:16]
    path = tmp_path / "small.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in pos + neg), encoding="utf-8")
    return path


def test_train_from_db_with_a_file_records_the_db_rows(db_copy: str, tmp_path: Path) -> None:
    small = _small_file(tmp_path)
    result = CliRunner().invoke(_cli(), ["train", "--from-db", "--db", db_copy, "--data", str(small),
                                         "--out", str(tmp_path / "models"), "--name", "job-risk-db-0.0.1",
                                         "--keep-identity-terms"])
    assert result.exit_code == 0, result.output
    assert "7 labelled job ads (4 confirmed/escalated, 3 dismissed)" in result.output
    assert "dropped 1 reviewer tie(s)" in result.output
    folder = tmp_path / "models/job-risk-db-0.0.1"
    doc = json.loads((folder / "metrics.json").read_text())
    db_input = next(i for i in doc["inputs"] if i["role"] == "database")
    assert {k: db_input[k] for k in ("path", "rows", "fraudulent", "ties_dropped", "not_job", "decided_from",
                                     "decided_to")} == {
        "path": db_copy, "rows": 7, "fraudulent": 4, "ties_dropped": 1, "not_job": 1,
        "decided_from": "2026-03-01", "decided_to": "2026-03-11"}
    assert doc["data"]["rows"] == 24 + 7 and doc["data"]["fraudulent"] == 8 + 4
    assert doc["data"]["by_source"][f"database {db_copy}"] == {"rows": 7, "fraudulent": 4}
    # grouping ran over files and database together: the groups are those of the combined rows
    combined = [*load_labelled([small]), *decision_records(db_copy).records]
    assign_groups(combined)
    assert doc["data"]["groups"] == len({r.group for r in combined})
    card = (folder / "card.md").read_text()
    assert f"| `{db_copy}` | analyst decisions (job ads) | labels `{db_input['sha256']}` | 7 | 4 |" in card
    assert "decided 2026-03-01 to 2026-03-11" in card and "1 ad(s) dropped for a reviewer tie" in card
    for text in (card, (folder / "metrics.json").read_text()):
        assert "555" not in text and "example.org" not in text and "Fixture Ltd" not in text
    evaluated = evaluate_files([small], model_dir=folder)
    assert evaluated["n"] == 24 and evaluated["baseline"]["train_data"] == [small.as_posix()]
    assert evaluated["warning"].endswith("also trained on 7 analyst-labelled ads from a database; the baseline "
                                         "was trained on the files only")


def test_train_from_db_alone_hits_the_guard(db_copy: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(_cli(), ["train", "--from-db", "--db", db_copy, "--out", str(tmp_path)])
    assert result.exit_code == 2
    out = " ".join(result.output.split())
    assert "too few labelled ads: grouped 5-fold CV needs >= 5 groups of each class" in out
    assert f"database {db_copy}: 7 rows, 4 labelled 1" in out


def test_train_needs_a_source_and_db_needs_from_db(tmp_path: Path) -> None:
    result = CliRunner().invoke(_cli(), ["train", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "no training data" in result.output
    result = CliRunner().invoke(_cli(), ["train", "--db", "sqlite:///x.db", "--data", str(COPY_SOURCE)])
    assert result.exit_code == 2 and "add --from-db" in " ".join(result.output.split())


def test_train_help_documents_from_db() -> None:
    result = CliRunner().invoke(_cli(), ["train", "--help"], env={"COLUMNS": "200"})
    text = " ".join(result.output.split())
    assert "--from-db" in text and "dismissed = 0" in text and "ties dropped" in text

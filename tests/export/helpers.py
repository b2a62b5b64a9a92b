"""Reading exports back, and the raw contact strings a test database holds."""

from __future__ import annotations

import csv
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from storage.models import Ad, AdEntity, Entity
from storage.repository import CONTACT_ENTITY_TYPES, upsert_ads


def read_rows(out: Path) -> list[dict[str, Any]]:
    """The rows of the export in ``out`` (any format), as JSON-like dicts."""
    if (out / "ads.jsonl").exists():
        return [json.loads(line) for line in (out / "ads.jsonl").read_text(encoding="utf-8").splitlines()]
    if (out / "ads.csv").exists():
        with open(out / "ads.csv", encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
        for r in rows:
            r["ad_id"] = int(r["ad_id"])
            r["indicators"] = json.loads(r["indicators"])
            r["labels"] = json.loads(r["labels"]) if r["labels"] else None
        return rows
    import pyarrow.parquet as pq

    rows = pq.read_table(out / "ads.parquet").to_pylist()
    for r in rows:
        r["first_seen"] = r["first_seen"].isoformat()
        r["posted_at"] = r["posted_at"].isoformat() if r["posted_at"] is not None else None
    return rows


def all_output_text(out: Path) -> str:
    """Everything an export folder holds, as text (Parquet decoded to JSON, other files read as UTF-8)."""
    parts = []
    for path in sorted(out.iterdir()):
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            parts.append(json.dumps(pq.read_table(path).to_pylist(), default=str, ensure_ascii=False))
            parts.append(path.read_bytes().decode("latin-1"))  # metadata and any uncompressed page
        else:
            parts.append(path.read_text(encoding="utf-8"))
    return "\n".join(parts)


def raw_contact_strings(session: Session) -> set[str]:
    """Every raw contact string stored: ``entity.value`` (contact types) and its handle name,
    ``ad_entity.text`` (contact types), ``ad.contact_raw`` and its lines."""
    out: set[str] = set()
    for type_, value in session.execute(select(Entity.type, Entity.value).where(Entity.type.in_(CONTACT_ENTITY_TYPES))):
        if value:
            out.add(value)
            if type_ == "handle":
                out.add(value.split(":", 1)[-1].lstrip("@"))
    out.update(t for t in session.scalars(select(AdEntity.text).where(AdEntity.type.in_(CONTACT_ENTITY_TYPES))) if t)
    for raw in session.scalars(select(Ad.contact_raw).where(Ad.contact_raw.is_not(None))):
        out.add(raw)
        out.update(line for line in raw.splitlines() if line.strip())
    return out


def add_ads(sessions: sessionmaker[Session], specs: dict[str, dict[str, Any]]) -> dict[str, int]:
    """Store more ads (``{name: spec}`` shaped like ``conftest.ADS`` entries) in a test's database copy;
    returns their ids by name."""
    from tests.export.conftest import HMAC_KEY, T0, record

    ids = {}
    with sessions() as s:
        for name, spec in specs.items():
            rec = record(name, spec)
            upsert_ads(s, [rec], now=T0 + timedelta(days=int(spec["day"])), hmac_key=HMAC_KEY)
            ids[name] = s.scalar(select(Ad.id).where(Ad.canonical_url == rec.canonical_url))
        s.commit()
    return ids

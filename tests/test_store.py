"""The coordinator's SQL state behaves the same on SQLite and on a real PostgreSQL server."""
from __future__ import annotations

import pytest

from coordinator.audit import AuditLog, load_or_create_key, verify
from coordinator.store import CoordinatorStore, StoreError

KEY = bytes(32)


def test_sites_rounds_and_models_round_trip(store_url, tmp_path):
    store = CoordinatorStore(store_url)
    token = store.create_enrollment("site-a")
    secret = store.enroll("site-a", token, KEY)
    store.authenticate("site-a", secret)
    with pytest.raises(StoreError) as err:
        store.enroll("site-a", token, KEY)
    assert err.value.kind == "unauthenticated"
    store.create_enrollment("site-b")
    rid = store.create_round({"epochs": 1}, 1, {"site-a": "h" * 64, "site-b": "g" * 64})
    with pytest.raises(StoreError, match="already running"):
        store.create_round({}, 1, {"site-a": "x" * 64})
    assert store.update_participant(rid, "site-a", ("SELECTED",), state="UPLOADED", num_samples=7,
                                    metrics_json={"hr_at_10": 0.5})
    assert not store.update_participant(rid, "site-a", ("SELECTED",), state="DROPPED")  # compare-and-set
    store.record_model({"version": 2, "parent_version": 1, "round_id": rid, "sha256": "f" * 64, "size_bytes": 10})
    store.set_round_state(rid, "COMPLETED", result_version=2)
    r = store.round(rid)
    assert r["state"] == "COMPLETED" and r["result_version"] == 2
    assert {p["site_id"]: p["state"] for p in r["participants"]} == {"site-a": "UPLOADED", "site-b": "SELECTED"}
    assert store.latest_model_version() == 2
    store.revoke("site-b")
    with pytest.raises(StoreError) as err:
        store.authenticate("site-b", "anything")
    assert err.value.kind == "unauthenticated"
    # A second store on the same database (a restarted coordinator) sees everything.
    again = CoordinatorStore(store_url)
    assert again.round(rid)["participants"][0]["metrics"] == {"hr_at_10": 0.5}
    assert [s["site_id"] for s in again.sites()] == ["site-a", "site-b"]
    audit = AuditLog(again, load_or_create_key(tmp_path / "audit.key"))
    for i in range(3):
        audit.append("event", rid, i=i)
    assert verify(audit.records(), (tmp_path / "audit.pub").read_text())[0]


def test_interrupted_rounds_are_failed_on_restart(store_url):
    store = CoordinatorStore(store_url)
    store.create_enrollment("site-a")
    rid = store.create_round({}, 1, {"site-a": "h" * 64})
    assert CoordinatorStore(store_url).fail_interrupted_rounds("restarted") == [rid]
    r = store.round(rid)
    assert r["state"] == "FAILED" and r["failure_reason"] == "restarted"


def test_migrations_build_exactly_the_schema_the_code_expects(store_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import text

    from coordinator.schema import Base

    store = CoordinatorStore(store_url)
    CoordinatorStore(store_url)  # a second start-up finds the schema current and changes nothing
    with store.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
        # The newest revision the migrations folder holds, not a number to bump with every migration.
        from alembic.script import ScriptDirectory

        from coordinator.migrate import alembic_config
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        assert head is not None and int(head) >= 3
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == head

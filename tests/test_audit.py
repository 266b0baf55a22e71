"""The signed, hash-chained round log: every kind of tampering is caught at the right record."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from coordinator.audit import AuditLog, load_or_create_key, verify
from coordinator.store import CoordinatorStore, sqlite_url
from deploy import processes as P


@pytest.fixture
def log(tmp_path):
    store = CoordinatorStore(sqlite_url(tmp_path / "c.db"))
    audit = AuditLog(store, load_or_create_key(tmp_path / "audit.key"))
    for i in range(6):
        audit.append("round_started" if i % 2 == 0 else "model_published", i // 2 + 1, n=i)
    return store, audit, (tmp_path / "audit.pub").read_text().strip()


def _sql(store, statement, **params):
    with store.engine.begin() as conn:
        conn.execute(text(statement), params)


def test_intact_log_verifies_with_the_public_key_alone(log):
    store, audit, pub = log
    assert verify(audit.records(), pub) == (True, -1, "6 records verified")
    other = load_or_create_key(store.engine.url.database + ".other.key")
    foreign = other.public_key().public_bytes_raw().hex()
    ok, bad, reason = verify(audit.records(), foreign)
    assert not ok and bad == 0 and "signature" in reason


def test_edit_is_detected_at_the_edited_record(log):
    store, audit, pub = log
    rec = audit.records()[3]
    body = dict(rec["body"], payload={"n": 99})
    _sql(store, "UPDATE audit_records SET body_json = :b WHERE seq = 3", b=json.dumps(body))
    ok, bad, reason = verify(audit.records(), pub)
    assert (ok, bad) == (False, 3) and "edited" in reason


def test_deletion_insertion_and_reordering_are_detected(log):
    store, audit, pub = log
    records = audit.records()
    deleted = records[:2] + records[3:]
    assert verify(deleted, pub)[:2] == (False, 2)
    forged = dict(records[2], body=dict(records[2]["body"], kind="forged"))
    assert verify(records[:2] + [forged] + records[2:], pub)[:2] == (False, 2)
    assert verify(records[:1] + [records[2], records[1]] + records[3:], pub)[:2] == (False, 1)
    # Re-signing is impossible without the key: a consistent-looking rewrite still fails the signature.
    import hashlib

    from coordinator.audit import canonical
    body = dict(records[4]["body"], payload={"n": -1})
    rewritten = dict(records[4], body=body, hash=hashlib.sha256(canonical(body).encode()).hexdigest())
    ok, bad, reason = verify(records[:4] + [rewritten] + records[5:], pub)
    assert (ok, bad) == (False, 4)


def test_coordinatorctl_verifies_an_exported_file_offline(log, tmp_path):
    store, audit, pub = log
    exported = tmp_path / "log.jsonl"
    exported.write_text("".join(json.dumps(r) + "\n" for r in audit.records()))
    ok = P.ctl("127.0.0.1:1", "audit", "--file", str(exported), "--verify", "--public-key", str(tmp_path / "audit.pub"))
    assert "verified: 6 records" in ok.stdout
    lines = exported.read_text().splitlines()
    del lines[4]
    exported.write_text("\n".join(lines) + "\n")
    res = P.ctl("127.0.0.1:1", "audit", "--file", str(exported), "--verify", "--public-key", pub, check=False)
    assert res.returncode == 1
    assert res.stderr.strip().splitlines() == [
        "coordinatorctl: audit: FAILED at record 4: index 5 out of sequence (deleted, inserted or moved)"]


def test_public_key_is_written_where_asked_kept_when_current_and_replaced_when_stale(tmp_path):
    out = tmp_path / "public" / "audit.pub"
    key = load_or_create_key(tmp_path / "keys" / "audit.key", out)
    assert out.read_text().strip() == key.public_key().public_bytes_raw().hex()
    assert not (tmp_path / "keys" / "audit.pub").exists()
    # A read-only secret carries the current .pub: a restart must not try to write it again.
    before = out.stat().st_mtime_ns
    out.chmod(0o444)
    load_or_create_key(tmp_path / "keys" / "audit.key", out)
    assert out.stat().st_mtime_ns == before
    out.chmod(0o644)
    out.write_text("00" * 32 + "\n")  # a foreign key left behind is replaced, never trusted
    load_or_create_key(tmp_path / "keys" / "audit.key", out)
    assert out.read_text().strip() == key.public_key().public_bytes_raw().hex()


def test_unwritable_public_key_path_is_an_error_naming_the_flag(tmp_path):
    (tmp_path / "a-file").write_text("")
    with pytest.raises(OSError, match="--audit-public-out"):
        load_or_create_key(tmp_path / "audit.key", tmp_path / "a-file" / "audit.pub")

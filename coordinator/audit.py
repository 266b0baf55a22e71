"""The signed, hash-chained round log (DESIGN §9).

Each record's body names its index, time, kind, round, payload and the previous record's hash; its
hash is sha256 of the canonical body and the coordinator signs that hash with Ed25519. Anyone with
the public key alone can verify an exported log and learn the first record that was edited,
deleted, inserted or moved.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import func, select

from coordinator.schema import AuditRecord

GENESIS = "0" * 64


def canonical(body: dict) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


def load_or_create_key(path: Path, public_out: Path | None = None) -> Ed25519PrivateKey:
    """The coordinator's audit signing key (raw, mode 0600). Its public key is written to public_out
    (default: beside the key, as .pub), where serving and auditors read it without the private key."""
    path = Path(path)
    if path.exists():
        key = Ed25519PrivateKey.from_private_bytes(path.read_bytes())
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                       serialization.NoEncryption()))
    write_public_key(key, Path(public_out) if public_out else path.with_suffix(".pub"))
    return key


def write_public_key(key: Ed25519PrivateKey, out: Path) -> None:
    """Write the public key unless that file already holds it: in a cluster the key folder is a read-only
    secret that carries both files, and a stale or foreign .pub must never stay silently in place."""
    text = public_hex(key) + "\n"
    if out.is_file() and out.read_text() == text:
        return
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
    except OSError as exc:
        raise OSError(f"cannot write the audit public key to {out} ({exc.strerror}); give --audit-public-out a "
                      f"writable path, or put the key's public half there") from exc


def public_hex(key: Ed25519PrivateKey) -> str:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


class AuditLog:
    def __init__(self, store, key: Ed25519PrivateKey):
        self.store, self.key = store, key
        self._lock = threading.Lock()

    def append(self, kind: str, round_id: int = 0, **payload) -> dict:
        with self._lock, self.store.session() as s:
            return self._append(s, kind, round_id, payload)

    @contextmanager
    def transaction(self):
        """(session, append) for records that must commit with other rows (a publication); the log's lock
        is held until the transaction commits, so no other record can take the same index."""
        with self._lock, self.store.session() as s:
            yield s, lambda kind, round_id=0, **payload: self._append(s, kind, round_id, payload)

    def head(self) -> dict | None:
        """The newest record's (seq, hash), or None for an empty log."""
        with self.store.session() as s:
            last = s.scalars(select(AuditRecord).order_by(AuditRecord.seq.desc()).limit(1)).first()
            return None if last is None else {"seq": last.seq, "hash": last.hash}

    def _append(self, s, kind: str, round_id: int, payload: dict) -> dict:
        last = s.scalars(select(AuditRecord).order_by(AuditRecord.seq.desc()).limit(1)).first()
        index = 0 if last is None else last.seq + 1
        body = {"index": index, "time": round(time.time(), 3), "kind": kind, "round_id": round_id,
                "payload": payload, "prev": GENESIS if last is None else last.hash}
        text = canonical(body)
        digest = hashlib.sha256(text.encode()).hexdigest()
        signature = self.key.sign(bytes.fromhex(digest)).hex()
        s.add(AuditRecord(seq=index, body_json=text, hash=digest, signature=signature, round_id=round_id))
        return {"body": body, "hash": digest, "signature": signature}

    def records(self, round_id: int = 0) -> list[dict]:
        with self.store.session() as s:
            q = select(AuditRecord).order_by(AuditRecord.seq)
            if round_id:
                q = q.where(AuditRecord.round_id == round_id)
            return [{"body": json.loads(r.body_json), "hash": r.hash, "signature": r.signature} for r in s.scalars(q)]

    def count(self) -> int:
        with self.store.session() as s:
            return s.scalar(select(func.count()).select_from(AuditRecord)) or 0


def verify(records: list[dict], public_key_hex: str) -> tuple[bool, int, str]:
    """Check the whole chain from record 0; returns (ok, first bad position, reason)."""
    pub = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex.strip()))
    prev = GENESIS
    for pos, rec in enumerate(records):
        body = rec["body"]
        if body.get("index") != pos:
            return False, pos, f"record {pos}: index {body.get('index')} out of sequence (deleted, inserted or moved)"
        if body.get("prev") != prev:
            return False, pos, f"record {pos}: does not chain to the previous record's hash"
        digest = hashlib.sha256(canonical(body).encode()).hexdigest()
        if digest != rec["hash"]:
            return False, pos, f"record {pos}: content does not match its hash (edited)"
        try:
            pub.verify(bytes.fromhex(rec["signature"]), bytes.fromhex(digest))
        except (InvalidSignature, ValueError):
            return False, pos, f"record {pos}: signature is not the coordinator's"
        prev = digest
    return True, -1, f"{len(records)} records verified"

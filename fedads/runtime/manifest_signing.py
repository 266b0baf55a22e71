"""Signed model manifests: each published version names the audit record that published it.

The coordinator signs, with its audit key (Ed25519), a statement binding the version to its weights, its
model config and the audit log's head at publication (the `model_published` record's seq and hash).
Serving and sites verify it with the coordinator's public key, so a version written into the registry by
hand (even with a correct sha256) is refused, and the head travels outside the coordinator's database:
whoever holds a manifest can tell when the log's newest records were deleted (DESIGN §9).
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

SCHEME = "fedads-manifest-v1"


class ManifestRejected(Exception):
    """A manifest whose signature or audit head is missing or wrong."""


def _canonical(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def statement(manifest: Mapping, audit_seq: int, audit_hash: str) -> bytes:
    """What the coordinator signs: every field a reader needs to trust the weights it loads."""
    return _canonical({
        "scheme": SCHEME, "version": int(manifest["version"]), "parent_version": int(manifest["parent_version"]),
        "round_id": int(manifest["round_id"]), "sha256": manifest["sha256"],
        "model_config_sha256": hashlib.sha256(_canonical(manifest["model_config"]).encode()).hexdigest(),
        "audit_seq": int(audit_seq), "audit_hash": audit_hash,
        # The catalogue the weights' rows mean: swapping it would re-label every ad.
        "catalog": {"version": int((manifest.get("catalog") or {}).get("version", 0)),
                    "sha256": str((manifest.get("catalog") or {}).get("sha256", ""))},
    }).encode()


def signed_fields(manifest: Mapping, key: Ed25519PrivateKey, audit_seq: int, audit_hash: str) -> dict:
    """The manifest fields to add at commit: the audit head and the signature over both."""
    signature = key.sign(statement(manifest, audit_seq, audit_hash)).hex()
    return {"audit_head": {"seq": int(audit_seq), "hash": audit_hash}, "signature": signature}


def public_key(hex_or_text: str) -> Ed25519PublicKey:
    try:
        return Ed25519PublicKey.from_public_bytes(bytes.fromhex(hex_or_text.strip()))
    except ValueError as exc:
        raise ManifestRejected(f"audit public key is not 32 bytes of hex: {exc}") from exc


def verify(manifest: Mapping, key: Ed25519PublicKey) -> dict:
    """The manifest's audit head {seq, hash} when its signature is the coordinator's; else ManifestRejected."""
    head, signature = manifest.get("audit_head"), manifest.get("signature")
    version = manifest.get("version")
    if not head or not signature:
        raise ManifestRejected(f"model version {version} is unsigned (no audit head or signature): "
                               "it was not published by the coordinator")
    try:
        key.verify(bytes.fromhex(signature), statement(manifest, head["seq"], head["hash"]))
    except (InvalidSignature, ValueError, KeyError, TypeError) as exc:
        raise ManifestRejected(f"model version {version}: signature does not match the coordinator's audit key "
                               "(forged or altered manifest)") from exc
    return {"seq": int(head["seq"]), "hash": head["hash"]}


class ModelTrust:
    """What a reader (serving, a site) trusts: the coordinator's audit key, and the newest version and audit
    head it has seen, optionally kept in a file so a restart does not forget it. A newer version must carry a
    newer head, and a version seen before must keep its head: a log cut back and re-grown, or a manifest
    swapped for an older genuine one, is refused."""

    def __init__(self, key_hex: str, memory: Path | None = None):
        self.key = public_key(key_hex)
        self.memory = Path(memory) if memory else None
        self.version, self.head = 0, {"seq": -1, "hash": ""}
        if self.memory is not None and self.memory.exists():
            saved = json.loads(self.memory.read_text())
            self.version, self.head = int(saved["version"]), dict(saved["head"])

    def check(self, manifest: Mapping) -> dict:
        """Verify `manifest`; returns its audit head. Does not move the watermark (see `accept`)."""
        head = verify(manifest, self.key)
        version = int(manifest["version"])
        if version > self.version and head["seq"] <= self.head["seq"]:
            raise ManifestRejected(f"model version {version} is signed under audit record {head['seq']}, not newer "
                                   f"than record {self.head['seq']} of version {self.version} seen before "
                                   "(the audit log went backwards)")
        if version == self.version and head != self.head:
            raise ManifestRejected(f"model version {version} is signed under another audit head than before "
                                   "(the audit log was rewritten)")
        return head

    def accept(self, manifest: Mapping) -> None:
        head = self.check(manifest)
        if int(manifest["version"]) > self.version:
            self.version, self.head = int(manifest["version"]), head
            if self.memory is not None:
                tmp = self.memory.with_name(f".{self.memory.name}.tmp")
                tmp.write_text(json.dumps({"version": self.version, "head": self.head}))
                os.replace(tmp, self.memory)

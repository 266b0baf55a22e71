"""Checking the round log against signed heads kept outside the coordinator's database (DESIGN §9).

A head is (seq, hash) of a record. Heads come from signed model manifests (the registry), from a head
file exported earlier (`coordinatorctl audit --export-head`), or from the command line (`--expect-head`).
A chain that verifies but ends before a head, or holds another record where a head points, was cut
(and perhaps re-grown): the check names the first record missing.
"""
from __future__ import annotations

import json
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from fedads.runtime import manifest_signing


class HeadError(ValueError):
    pass


def head_of(records: list[dict]) -> dict:
    """The newest record's head, as `--export-head` writes it."""
    if not records:
        raise HeadError("the log is empty: there is no head to export")
    last = records[-1]
    return {"seq": last["body"]["index"], "hash": last["hash"], "signature": last["signature"]}


def parse_expect(text: str) -> dict:
    seq, _, digest = text.partition(":")
    if not seq.isdigit() or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise HeadError(f"--expect-head {text!r} must be SEQ:HASH (a record number and its 64-hex hash)")
    return {"seq": int(seq), "hash": digest}


def read_head_file(path: str, public_key_hex: str) -> dict:
    try:
        head = json.loads(Path(path).read_text())
        seq, digest, signature = int(head["seq"]), head["hash"], head["signature"]
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex.strip())).verify(
            bytes.fromhex(signature), bytes.fromhex(digest))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise HeadError(f"head file {path} is unreadable: {exc}") from exc
    except InvalidSignature as exc:
        raise HeadError(f"head file {path} is not signed by the coordinator's audit key") from exc
    return {"seq": seq, "hash": digest}


def manifest_heads(manifests: list[dict], public_key_hex: str) -> list[tuple[str, dict]]:
    """Heads of the manifests whose signature verifies (an unsigned or forged one vouches for nothing)."""
    key = manifest_signing.public_key(public_key_hex)
    out = []
    for m in manifests:
        try:
            out.append((f"model v{m['version']}", manifest_signing.verify(m, key)))
        except manifest_signing.ManifestRejected:
            continue
    return out


def registry_manifests(folder: str) -> list[dict]:
    from fedads.runtime.registry import ModelRegistry

    registry = ModelRegistry(folder)
    out = []
    for v in registry.versions():
        try:
            out.append(registry.manifest(v))
        except (ValueError, OSError):
            continue
    return out


def check(records: list[dict], heads: list[tuple[str, dict]]) -> tuple[bool, str]:
    """Every head must name a record the log holds, with the same hash; the lowest one that does not
    bounds where the log was cut."""
    for source, head in sorted(heads, key=lambda sh: sh[1]["seq"]):
        seq = head["seq"]
        if seq >= len(records):
            return False, (f"record {len(records)}: missing (the log ends at record {len(records) - 1}, but "
                           f"{source} is signed under record {seq}; its newest records were deleted)")
        if records[seq]["hash"] != head["hash"]:
            return False, (f"record {seq}: not the record {source} is signed under (the log was cut at or "
                           f"before record {seq} and re-grown)")
    return True, f"{len(heads)} signed heads agree"

"""Key agreement, signatures and share encryption, all from `cryptography`."""
from __future__ import annotations

import functools
import os

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

RAW = dict(encoding=serialization.Encoding.Raw, format=serialization.PublicFormat.Raw)


class SecAggError(Exception):
    """A protocol violation; `offender` names the party at fault where it is known."""

    def __init__(self, message: str, offender: str = ""):
        super().__init__(message)
        self.offender = offender


def new_identity_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def identity_to_bytes(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                             serialization.NoEncryption())


def identity_from_bytes(data: bytes) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(data)


def public_bytes(key) -> bytes:
    return key.public_key().public_bytes(**RAW)


def advert_message(round_id: int, site_id: str, c_pk: bytes, s_pk: bytes, b_commitment: bytes) -> bytes:
    return b"fedads-secagg-advert-v1|" + str(round_id).encode() + b"|" + site_id.encode() + b"|" + c_pk + s_pk + \
        b_commitment


def verify_signature(identity_pk: bytes, signature: bytes, message: bytes, site_id: str) -> None:
    if not _signature_valid(identity_pk, signature, message):
        raise SecAggError(f"key advertisement of {site_id} has an invalid signature (substituted keys?)",
                          offender=site_id)


@functools.lru_cache(maxsize=1 << 14)
def _signature_valid(identity_pk: bytes, signature: bytes, message: bytes) -> bool:
    # Pure in its arguments, so remembering answers is sound; every site checks all n adverts of a round,
    # and in-process simulations of n sites would otherwise repeat the same n checks n times.
    try:
        Ed25519PublicKey.from_public_bytes(identity_pk).verify(signature, message)
        return True
    except (InvalidSignature, ValueError):
        return False


def x25519_private(data: bytes) -> X25519PrivateKey:
    return X25519PrivateKey.from_private_bytes(data)


def agree(private: X25519PrivateKey, peer_public: bytes, info: bytes) -> bytes:
    """ECDH then HKDF-SHA256: a 256-bit key bound to its purpose by `info`."""
    shared = private.exchange(X25519PublicKey.from_public_bytes(peer_public))
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(shared)


def encrypt(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(12)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def decrypt(key: bytes, ciphertext: bytes, aad: bytes, sender: str) -> bytes:
    try:
        return AESGCM(key).decrypt(ciphertext[:12], ciphertext[12:], aad)
    except (InvalidTag, ValueError) as exc:
        raise SecAggError(f"share from {sender} failed authentication (tampered in transit?)", offender=sender) from exc

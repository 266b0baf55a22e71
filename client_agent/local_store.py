"""What a site keeps on its own disk: credentials, private parameters, and a record of what it sent.

Private parameters are saved with safetensors next to the user keys they belong to, and are
read back only here; no code path hands them to a network call.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from admodels.models.fedads_model import ModelConfig, PrivateUserState


def _atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class LocalStore:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "sent").mkdir(exist_ok=True)

    # credentials
    def credentials(self) -> dict | None:
        path = self.root / "credentials.json"
        return json.loads(path.read_text()) if path.exists() else None

    def save_credentials(self, site_id: str, secret: str) -> None:
        _atomic_write(self.root / "credentials.json", json.dumps({"site_id": site_id, "secret": secret}).encode(),
                      mode=0o600)

    # the coordinator's audit key, pinned at enrolment: every model this site loads must be signed with it
    def save_audit_key(self, key_hex: str) -> None:
        _atomic_write(self.root / "audit.pub", (key_hex.strip() + "\n").encode())

    def model_trust(self):
        """The site's ModelTrust (remembering the newest audit head in audit_head.json), or None for a site
        enrolled before keys were handed out."""
        from fedads.runtime.manifest_signing import ModelTrust

        path = self.root / "audit.pub"
        return ModelTrust(path.read_text(), self.root / "audit_head.json") if path.exists() else None

    # the site's Ed25519 identity key: signs its per-round secure-aggregation keys
    def identity_key(self):
        from privacy.secagg.keys import identity_from_bytes, identity_to_bytes, new_identity_key

        path = self.root / "identity.key"
        if path.exists():
            return identity_from_bytes(path.read_bytes())
        key = new_identity_key()
        _atomic_write(path, identity_to_bytes(key), mode=0o600)
        return key

    # the site's TLS identity: its key never leaves state/tls; the coordinator signs a CSR for it
    def tls_key_pem(self) -> bytes:
        from fedads.runtime.pki import key_pem, new_key

        folder = self.root / "tls"
        folder.mkdir(exist_ok=True)
        path = folder / "tls.key"
        if not path.exists():
            _atomic_write(path, key_pem(new_key()), mode=0o600)
        return path.read_bytes()

    def tls_csr(self, site_id: str) -> bytes:
        from cryptography.hazmat.primitives import serialization

        from fedads.runtime.pki import make_csr

        return make_csr(site_id, serialization.load_pem_private_key(self.tls_key_pem(), password=None))

    def save_certificate(self, cert_pem: bytes, ca_pem: bytes) -> None:
        _atomic_write(self.root / "tls" / "ca.crt", ca_pem)
        _atomic_write(self.root / "tls" / "tls.crt", cert_pem)

    def tls_identity(self):
        """The site's mTLS identity once enrolled, else None."""
        from fedads.runtime.pki import Identity

        folder = self.root / "tls"
        if not all((folder / n).exists() for n in ("ca.crt", "tls.crt", "tls.key")):
            return None
        return Identity.read(folder)

    # tensors that belong to the site's users, saved with their keys: read back only for the same users
    def _load_for_users(self, name: str, user_keys: np.ndarray) -> dict[str, torch.Tensor] | None:
        path = self.root / f"{name}.safetensors"
        if not path.exists():
            return None
        saved = load_file(str(path))
        return saved if np.array_equal(saved.pop("user_keys").numpy(), user_keys) else None

    def _save_for_users(self, name: str, tensors: dict[str, torch.Tensor], user_keys: np.ndarray) -> None:
        tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
        tensors["user_keys"] = torch.from_numpy(np.asarray(user_keys, dtype=np.int64))
        tmp = self.root / f".{name}.safetensors.tmp"
        save_file(tensors, str(tmp))
        os.replace(tmp, self.root / f"{name}.safetensors")

    # private parameters
    def load_private(self, config: ModelConfig, user_keys: np.ndarray, seed: int,
                     user_features=None) -> PrivateUserState:
        """user_features: the users' UserFeatureCodes, where the model reads user features."""
        state = PrivateUserState(config, len(user_keys), seed=seed, user_features=user_features)
        saved = self._load_for_users("private", user_keys)
        if saved is not None:
            shapes_match = all(saved[k].shape == v.shape for k, v in state.state_dict().items() if k in saved)
            if shapes_match and set(saved) == set(state.state_dict()):
                state.load_state_dict(saved)
        return state

    def save_private(self, state: PrivateUserState, user_keys: np.ndarray) -> None:
        self._save_for_users("private", state.state_dict(), user_keys)

    # the local optimiser's state (Adam moments), so that a site's training resumes rather than restarts
    def load_optimizer_state(self, user_keys: np.ndarray) -> dict | None:
        """The state saved with these users' private rows, else None (no state yet, or the site's users changed
        and the private rows it belonged to were reinitialised)."""
        saved = self._load_for_users("optimizer", user_keys)
        if saved is None:
            return None
        state: dict[int, dict] = {}
        for key, tensor in saved.items():
            index, name = key.split("/", 1)
            state.setdefault(int(index), {})[name] = tensor
        return state

    def save_optimizer_state(self, state: dict, user_keys: np.ndarray) -> None:
        self._save_for_users("optimizer", {f"{i}/{name}": t for i, s in state.items() for name, t in s.items()},
                             user_keys)

    def save_personalised(self, tensors: dict[str, np.ndarray], base_version: int) -> None:
        """The site's fine-tuned copy of a global model: stays here, for the site's own serving."""
        from safetensors.numpy import save_file as save_numpy

        tmp = self.root / ".personalised.safetensors.tmp"
        save_numpy({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(tmp),
                   metadata={"base_version": str(base_version)})
        os.replace(tmp, self.root / "personalised.safetensors")

    # transparency record of every update that left the site
    def record_sent(self, round_id: int, vector: np.ndarray, info: dict, masked: bytes | None = None) -> None:
        """Keep the update (before masking) and, under secure aggregation, the masked bytes that left."""
        base = self.root / "sent" / f"round-{round_id:06d}"
        _atomic_write(base.with_suffix(".f32"), np.asarray(vector, dtype="<f4").tobytes())
        if masked is not None:
            _atomic_write(base.with_suffix(".masked"), masked)
        _atomic_write(base.with_suffix(".json"), json.dumps(info, indent=1).encode())

    def sent_masked(self, round_id: int) -> bytes:
        return (self.root / "sent" / f"round-{round_id:06d}.masked").read_bytes()

    def sent(self, round_id: int) -> tuple[np.ndarray, dict]:
        base = self.root / "sent" / f"round-{round_id:06d}"
        return np.fromfile(base.with_suffix(".f32"), dtype="<f4"), json.loads(base.with_suffix(".json").read_text())

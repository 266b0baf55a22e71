"""Site configuration (`site.toml`). Relative paths are relative to the file's folder."""
from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

from admodels.training import NEGATIVE_SOURCES, NEGATIVES_FROM
from fedads.eventlog.site_data import SiteData
from fedads.tomlfile import read_toml


class ConfigError(ValueError):
    pass


@dataclass
class SiteConfig:
    site_id: str  # the site's name, as the operator enrolled it
    coordinator: str  # the coordinator's address (host:port)
    # The site's data manifest (data.toml: event log, optional user features, interaction_only), or its folder.
    data: Path
    state_dir: Path  # credentials, TLS key and certificate, private parameters, privacy ledger, sent updates
    enrollment_token: str = ""  # the one-time enrolment token itself (prefer enrollment_token_file)
    enrollment_token_file: Path | None = None  # a file holding the one-time enrolment token
    # Transport: mTLS unless `insecure = true`. A site without a certificate enrols on the
    # coordinator's enrolment port, trusting the CA certificate the operator handed over with the token.
    insecure: bool = False
    ca_file: Path | None = None  # the federation CA certificate (ca.crt of the partner kit)
    enroll_address: str = ""  # the coordinator's enrolment port (host:port), used once
    device: str = "auto"  # auto, cpu or cuda
    threads: int = 0               # torch intra-op threads; 0 keeps torch's default
    max_targets_per_user: int = 0  # cap of training targets per user per epoch (0: all)
    eval_negatives: int = 99  # sampled negatives per held-out item in evaluation
    eval_seed: int = 0  # seed of the evaluation negatives
    # Resume the local Adam state (kept in state_dir beside the private rows) across rounds instead of
    # restarting it every round.
    keep_optimizer_state: bool = False
    # Differential privacy (off while dp_clip_norm is 0): the site's whole update is clipped to
    # dp_clip_norm and gets Gaussian noise of std σ·dp_clip_norm; σ is dp_noise_multiplier or,
    # when that is 0, calibrated so dp_planned_rounds rounds spend dp_epsilon_budget at dp_delta.
    dp_clip_norm: float = 0.0
    dp_epsilon_budget: float = 0.0  # ε the site may spend over all rounds
    dp_delta: float = 1e-5  # δ of the (ε, δ) accounting
    dp_noise_multiplier: float = 0.0  # σ fixed by hand (0: calibrated from the budget)
    dp_planned_rounds: int = 10  # rounds the budget is spread over when σ is calibrated
    # "site": noise on the round's whole update (protects the site's contribution); "record": DP-SGD
    # while training (opacus; protects each interaction), see docs/privacy.md.
    dp_unit: str = "site"
    # SF-UBM-style perturbation of the shared item embeddings: per-row Gaussian noise of this size
    # relative to the row's norm (0: off); the resulting cosine similarity is logged and recorded.
    embedding_noise: float = 0.0
    # Where training's sampled negatives come from: "catalogue" (every ad) or "site" (the ads of the site's
    # own records). "site" suits a partner whose domain is a slice of the catalogue (books beside movies):
    # it never trains other domains' ads, or ads nobody has shown yet, down as its negatives.
    negatives_from: str = NEGATIVES_FROM
    # `client-agent check`: a local catalogue folder to check against before the site is enrolled (once
    # enrolled, the agent checks against the federation's newest catalogue), and the share of rows naming
    # unknown ads above which the event log is refused.
    catalog: Path | None = None
    max_unknown_ad_share: float = 0.01  # above this share of unknown-ad rows the event log is refused

    @classmethod
    def load(cls, path: str | Path) -> "SiteConfig":
        path = Path(path)
        raw = read_toml(path, "site config", ConfigError)
        known = {f.name for f in fields(cls)}
        if "data_file" in raw:
            raise ConfigError(f"site config {path}: data_file is replaced by data, the site's data manifest "
                              "(data.toml beside the event log; see the README's partner guide)")
        unknown = set(raw) - known
        if unknown:
            raise ConfigError(f"site config {path}: unknown keys {sorted(unknown)}")
        missing = {"site_id", "coordinator", "data", "state_dir"} - set(raw)
        if missing:
            raise ConfigError(f"site config {path}: missing keys {sorted(missing)}")
        base = path.parent
        for key in ("data", "state_dir", "enrollment_token_file", "ca_file", "catalog"):
            if raw.get(key):
                raw[key] = (base / raw[key]).resolve()
        config = cls(**raw)
        if config.negatives_from not in NEGATIVE_SOURCES:
            raise ConfigError(f"site config {path}: negatives_from must be one of {', '.join(NEGATIVE_SOURCES)}, "
                              f"not {config.negatives_from!r}")
        if not config.insecure and not config.ca_file:
            raise ConfigError(f"site config {path}: set ca_file (the federation CA certificate from "
                              "`coordinatorctl enroll --ca-file`), or insecure = true for plaintext local development")
        return config

    def site_data(self) -> SiteData:
        return SiteData.load(self.data)

    def token(self) -> str:
        if self.enrollment_token:
            return self.enrollment_token
        if self.enrollment_token_file and self.enrollment_token_file.exists():
            return self.enrollment_token_file.read_text().strip()
        return ""

"""Validated round settings, from the admin RPC's RoundConfig."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from admodels.training import DISTILL_WEIGHT, PRIVATE_LR_SCALE

WEIGHTINGS = ("samples", "noise", "interest", "interest,noise")


class RoundConfigError(ValueError):
    pass


# Finite bounds checked before a round row exists: beyond them a round only fails downstream.
MAX_PROX_MU = 1000.0
MAX_DEADLINE_S = 7 * 86400.0
# The secure-aggregation range: updates are clipped to ±clip, so below 1e-3 every real update is cut off;
# above 2^32 the 48-bit fixed point's step exceeds 1/16 for a thousand sites, coarser than any update.
MIN_SECAGG_CLIP = 1e-3
MAX_SECAGG_CLIP = 2.0 ** 32


@dataclass
class RoundSettings:
    sites: int = 0
    fraction: float = 0.0
    min_sites: int = 1
    epochs: int = 1
    learning_rate: float = 1e-3
    batch_size: int = 256
    prox_mu: float = 0.0
    negatives: int = 4
    seed: int = 0
    train_deadline_s: float = 600.0
    eval_deadline_s: float = 300.0
    weighting: str = "samples"
    plain_aggregation: bool = False
    secagg_clip: float = 2.0 ** 24
    stage_deadline_s: float = 120.0
    interest_beta: float = 1.0
    personalise_epochs: int = 0
    server_learning_rate: float = 1.0
    private_lr_scale: float = PRIVATE_LR_SCALE
    server_momentum: float = 0.0
    local_steps: int = 0
    accept_noise: bool = False
    distill_weight: float = DISTILL_WEIGHT

    @classmethod
    def from_proto(cls, msg) -> "RoundSettings":
        d = cls()

        def given(field: str, attr: str | None = None):
            """A field the caller set (0 included) is taken as sent; an unset one takes the default."""
            return getattr(msg, field) if msg.HasField(field) else getattr(d, attr or field)
        s = cls(
            sites=msg.sites, fraction=msg.fraction, min_sites=given("min_sites"),
            epochs=given("epochs"), learning_rate=given("learning_rate"),
            batch_size=given("batch_size"), prox_mu=msg.prox_mu, negatives=given("negatives"),
            seed=msg.seed, train_deadline_s=given("train_deadline_s"),
            eval_deadline_s=given("eval_deadline_s"), weighting=msg.weighting or d.weighting,
            plain_aggregation=msg.plain_aggregation, secagg_clip=given("secagg_clip"),
            interest_beta=given("interest_beta"), personalise_epochs=msg.personalise_epochs,
            stage_deadline_s=given("stage_deadline_s"),
            server_learning_rate=given("server_learning_rate"),
            private_lr_scale=given("private_lr_scale"), server_momentum=msg.server_momentum,
            local_steps=msg.local_steps, accept_noise=msg.accept_noise, distill_weight=msg.distill_weight)
        s.validate()
        return s

    def validate(self) -> None:
        checks = [
            (self.sites >= 0, "sites must be ≥ 0"),
            (0.0 <= self.fraction <= 1.0, "fraction must lie in [0, 1]"),
            (not (self.sites and self.fraction), "give either sites or fraction, not both"),
            (self.min_sites >= 1, "min-sites must be ≥ 1"),
            (1 <= self.epochs <= 1000, "epochs must lie in 1..1000"),
            (0 <= self.local_steps <= 10_000_000, "local steps must lie in 0..10000000 (0: whole epochs)"),
            (0 < self.learning_rate <= 10 and math.isfinite(self.learning_rate), "learning rate must lie in (0, 10]"),
            (1 <= self.batch_size <= 65536, "batch size must lie in 1..65536"),
            (0 <= self.prox_mu <= MAX_PROX_MU, f"prox-mu must lie in [0, {MAX_PROX_MU:g}]"),
            (1 <= self.negatives <= 1000, "negatives must lie in 1..1000"),
            (all(0 < d <= MAX_DEADLINE_S for d in (self.train_deadline_s, self.eval_deadline_s, self.stage_deadline_s)),
             f"deadlines must lie in (0, {MAX_DEADLINE_S:g}] seconds"),
            (0 < self.interest_beta <= 10, "interest beta must lie in (0, 10]"),
            (0 <= self.personalise_epochs <= 100, "personalise epochs must lie in 0..100"),
            (MIN_SECAGG_CLIP <= self.secagg_clip <= MAX_SECAGG_CLIP,
             f"secagg clip must lie in [{MIN_SECAGG_CLIP:g}, 2^{int(math.log2(MAX_SECAGG_CLIP))}]"),
            (0 <= self.seed < 2 ** 63, "seed must lie in 0..2^63-1"),
            (0 < self.server_learning_rate <= 10 and math.isfinite(self.server_learning_rate),
             "server learning rate must lie in (0, 10]"),
            (0 <= self.server_momentum < 1, "server momentum must lie in [0, 1)"),
            (0 < self.private_lr_scale <= 10 and math.isfinite(self.private_lr_scale),
             "private lr scale must lie in (0, 10]"),
            (0 <= self.distill_weight <= 100 and math.isfinite(self.distill_weight),
             "distill weight must lie in [0, 100] (0: off)"),
            (self.weighting in WEIGHTINGS, f"weighting must be one of {', '.join(WEIGHTINGS)}"),
        ]
        for ok, message in checks:
            if not ok:
                raise RoundConfigError(message)

    def select_count(self, online: int) -> int:
        if self.sites:
            return self.sites
        if self.fraction:
            return max(1, math.ceil(self.fraction * online))
        return online

    def to_dict(self) -> dict:
        return asdict(self)

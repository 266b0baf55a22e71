"""A training job's settings: R rounds of one round config, a learning-rate schedule, stop criteria."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

from coordinator.round_config import RoundConfigError, RoundSettings

SCHEDULES = ("constant", "cosine", "step")
# Metrics where a smaller value is better; every other round metric counts as better when larger.
SMALLER_IS_BETTER = ("loss",)
DEFAULT_MAX_FAILED_ROUNDS = 2


@dataclass
class JobSettings:
    round: RoundSettings = field(default_factory=RoundSettings)
    rounds: int = 10
    lr_schedule: str = "constant"
    lr_min: float = 0.0
    lr_step_rounds: int = 0
    lr_step_gamma: float = 0.5
    target_metric: str = ""
    target_value: float = 0.0
    patience: int = 0
    name: str = ""
    max_failed_rounds: int = DEFAULT_MAX_FAILED_ROUNDS

    @classmethod
    def from_proto(cls, msg) -> "JobSettings":
        d = cls()
        base = RoundSettings.from_proto(msg.config)
        if msg.accept_noise:
            base = replace(base, accept_noise=True)
        s = cls(round=base, rounds=msg.rounds or d.rounds, lr_schedule=msg.lr_schedule or d.lr_schedule,
                lr_min=msg.lr_min, lr_step_rounds=msg.lr_step_rounds,
                lr_step_gamma=msg.lr_step_gamma or d.lr_step_gamma, target_metric=msg.target_metric,
                target_value=msg.target_value, patience=msg.patience, name=msg.name,
                max_failed_rounds=msg.max_failed_rounds or d.max_failed_rounds)
        s.validate()
        return s

    @classmethod
    def from_dict(cls, d: dict) -> "JobSettings":
        return cls(**{**d, "round": RoundSettings(**d["round"])})

    def validate(self) -> None:
        checks = [
            (1 <= self.rounds <= 100_000, "rounds must lie in 1..100000"),
            (self.lr_schedule in SCHEDULES, f"lr schedule must be one of {', '.join(SCHEDULES)}"),
            (0 <= self.lr_min <= self.round.learning_rate, "lr-min must lie in [0, the starting --lr]"),
            (self.lr_schedule != "step" or self.lr_step_rounds >= 1, "the step schedule needs --lr-step-rounds ≥ 1"),
            (0 < self.lr_step_gamma <= 1, "lr-step-gamma must lie in (0, 1]"),
            (self.patience >= 0, "patience must be ≥ 0"),
            (not (self.patience or self.target_value) or bool(self.target_metric),
             "--patience and --target-value need --target-metric"),
            (math.isfinite(self.target_value), "target value must be finite"),
            (1 <= self.max_failed_rounds <= 100, "max failed rounds must lie in 1..100"),
            (len(self.name) <= 200, "name must be at most 200 characters"),
        ]
        for ok, message in checks:
            if not ok:
                raise RoundConfigError(message)

    def learning_rate(self, index: int) -> float:
        """The rate of job round `index` (0-based)."""
        lr0 = self.round.learning_rate
        if self.lr_schedule == "cosine":
            if self.rounds == 1:
                return lr0
            return self.lr_min + 0.5 * (lr0 - self.lr_min) * (1 + math.cos(math.pi * index / (self.rounds - 1)))
        if self.lr_schedule == "step":
            return lr0 * self.lr_step_gamma ** (index // self.lr_step_rounds)
        return lr0

    def round_settings(self, index: int) -> RoundSettings:
        """Round `index` of the job: its scheduled rate and its own seed, so rounds sample differently."""
        return replace(self.round, learning_rate=max(self.learning_rate(index), 1e-12), seed=self.round.seed + index)

    def better(self, value: float, best: float | None) -> bool:
        if best is None:
            return True
        return value < best if self.target_metric in SMALLER_IS_BETTER else value > best

    def reached(self, value: float) -> bool:
        if not self.target_value:
            return False
        return value <= self.target_value if self.target_metric in SMALLER_IS_BETTER else value >= self.target_value

    def to_dict(self) -> dict:
        return asdict(self)

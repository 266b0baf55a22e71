"""Record-level DP-SGD inside a site: the protected unit is one training record (a user's interaction).

Each step samples records by Poisson sampling at rate q, computes every record's gradient of the
shared parameters (torch.func vmap, since the model's layers are not all opacus-hookable), and lets
opacus's DPOptimizer clip each to norm C, add N(0, σ²C²) to the sum and scale by the expected batch
size before Adam. The private parameters are part of that same per-record gradient, clipped jointly
and noised: they never leave the site, but every later shared gradient is computed through them, so
a private state trained without noise would carry a record's influence into the release unbounded
(a user's private row moves with each of their records, and every other record of that user then
reads it). With the whole local state a DP-SGD trajectory, the shared update is post-processing,
and the round's release is a composition of `steps` Poisson-sampled Gaussian events, accounted by
privacy.dp.accountant.
"""
from __future__ import annotations

import numpy as np
import torch
from opacus.optimizers import DPOptimizer
from torch import nn
from torch.func import functional_call, grad, vmap
from torch.nn.attention import SDPBackend, sdpa_kernel

from admodels.training import TrainSettings, example_losses, resume_optimizer


class _WithPrivate(nn.Module):
    """Model and private state under one module, so one functional_call swaps both parameter sets."""

    def __init__(self, model: nn.Module, private: nn.Module | None):
        super().__init__()
        self.model, self.private = model, private

    def forward(self, seq, cands, users):
        return self.model(seq, cands, users, self.private)


def steps_per_epoch(sample_rate: float) -> int:
    return max(1, round(1.0 / sample_rate))


class DPSGDStep:
    """A LocalStep (admodels.training) that trains the shared and private parameters with DP-SGD."""

    def __init__(self, model, private, settings: TrainSettings, noise_multiplier: float, clip_norm: float,
                 sample_rate: float, generator: torch.Generator | None = None):
        if settings.prox_mu > 0:
            raise ValueError("DP-SGD does not combine with FedProx here: the proximal term is not per-record")
        self.settings, self.sample_rate = settings, sample_rate
        self.wrapped = _WithPrivate(model, private)
        self.shared = {f"model.{n}": p for n, p in model.named_parameters() if p.requires_grad}
        self.private = {f"private.{n}": p for n, p in private.named_parameters()} if private is not None else {}
        groups = [{"params": list(self.shared.values())}]
        if self.private:
            groups.append({"params": list(self.private.values()), "lr": settings.lr * settings.private_lr_scale})
        # One optimiser over both, so opacus clips each record's gradient over shared and private together.
        self.dp_opt = DPOptimizer(torch.optim.Adam(groups, lr=settings.lr),
                                  noise_multiplier=noise_multiplier, max_grad_norm=clip_norm,
                                  expected_batch_size=1, loss_reduction="mean", generator=generator)

        def one_loss(shared, private, seq, cands, users, rating):
            out = functional_call(self.wrapped, {**shared, **private}, (seq[None], cands[None], users[None]))
            loss = example_losses(out, rating[None], settings)[0]
            return loss, (loss.detach(), out["gate"][0])

        self._per_example = vmap(grad(one_loss, argnums=(0, 1), has_aux=True), in_dims=(None, None, 0, 0, 0, 0),
                                 randomness="different")

    def state_dict(self) -> dict:
        """Adam's moments: built from the noised gradients only, so keeping them is post-processing."""
        return self.dp_opt.original_optimizer.state_dict()["state"]

    def load_state_dict(self, state: dict) -> bool:
        return resume_optimizer(self.dp_opt.original_optimizer, state)

    def batches(self, targets: np.ndarray, rng: np.random.Generator):
        """Poisson sampling: every record joins each step's batch independently with probability q."""
        self.dp_opt.expected_batch_size = max(1, round(self.sample_rate * len(targets)))
        for _ in range(steps_per_epoch(self.sample_rate)):
            yield targets[rng.random(len(targets)) < self.sample_rate]

    def num_batches(self, n_targets: int) -> int:
        return steps_per_epoch(self.sample_rate)

    def _record_gradients(self, seq, users, cands, rating):
        """Every record's gradient of the shared and the private parameters, its loss and its gate."""
        shared = {k: p.detach() for k, p in self.shared.items()}
        private = {k: p.detach() for k, p in self.private.items()}
        # The fused attention kernels have no vmap batching rule (torch falls back to a per-record
        # loop); the math kernel batches.
        with sdpa_kernel(SDPBackend.MATH):
            return self._per_example(shared, private, seq, cands, users, rating)

    def record_gradient_norms(self, seq, users, cands, rating) -> torch.Tensor:
        """Each record's gradient norm over the shared and private parameters together: what clipping
        compares with C (bench/dp_grad_norms reads it to choose C)."""
        (g_shared, g_private), _ = self._record_gradients(seq, users, cands, rating)
        return torch.sqrt(sum((g.flatten(1) ** 2).sum(1) for g in (*g_shared.values(), *g_private.values())))

    def step(self, seq, users, cands, rating) -> tuple[float, torch.Tensor]:
        if len(seq) == 0:
            # An empty Poisson batch still releases noise: a zero gradient plus N(0, σ²C²).
            for p in (*self.shared.values(), *self.private.values()):
                p.grad_sample = torch.zeros((1, *p.shape), device=p.device)
            gate, loss_sum = torch.zeros(0, 1), 0.0
        else:
            (g_shared, g_private), (losses, gate) = self._record_gradients(seq, users, cands, rating)
            loss_sum = float(losses.sum())
            for k, p in self.shared.items():
                p.grad_sample = g_shared[k]
            for k, p in self.private.items():
                p.grad_sample = g_private[k]
        self.dp_opt.step()
        self.dp_opt.zero_grad(set_to_none=True)
        return loss_sum, gate

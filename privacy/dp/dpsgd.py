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
privacy.dp.accountant. A record's gradients of the lookup tables (item embeddings, the private rows)
are computed only on the rows it reads (privacy.dp.row_sparse): the same clipped sum, without a
dense table per record.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, grad, vmap
from torch.nn.attention import SDPBackend, sdpa_kernel

from admodels.models.fedads_model import PrivateUserState
from admodels.training import TrainSettings, example_losses, resume_optimizer
from privacy.dp.row_sparse import RowSparseDPOptimizer, compact_ids, gather_rows, scatter_rows

ITEM_TABLE = "model.item_emb.weight"


class _WithPrivate(nn.Module):
    """Model and private state under one module, so one functional_call swaps both parameter sets."""

    def __init__(self, model: nn.Module, private: nn.Module | None):
        super().__init__()
        self.model, self.private = model, private

    def forward(self, seq, cands, users, codes=None):
        return self.model(seq, cands, users, self.private, codes)


def steps_per_epoch(sample_rate: float) -> int:
    return max(1, round(1.0 / sample_rate))


class DPSGDStep:
    """A LocalStep (admodels.training) that trains the shared and private parameters with DP-SGD."""

    def __init__(self, model, private, settings: TrainSettings, noise_multiplier: float, clip_norm: float,
                 sample_rate: float, generator: torch.Generator | None = None, row_sparse: bool = True):
        """row_sparse=False materialises every record's gradient of every table in full (the reference
        bench/dp_step times it against; the release is the same)."""
        if settings.prox_mu > 0:
            raise ValueError("DP-SGD does not combine with FedProx here: the proximal term is not per-record")
        if private is not None and private.has_user_features:
            # A record's private slices are renumbered to its own user (row_sparse), which the users'
            # feature codes are not: refuse rather than read another user's features.
            raise ValueError("DP-SGD (dp_unit record) does not train user features yet; drop user_features "
                             "from the model config or use site-level DP")
        self.settings, self.sample_rate = settings, sample_rate
        self.wrapped = _WithPrivate(model, private)
        self.shared = {f"model.{n}": p for n, p in model.named_parameters() if p.requires_grad}
        self.private = {f"private.{n}": p for n, p in private.named_parameters()} if private is not None else {}
        groups = [{"params": list(self.shared.values())}]
        if self.private:
            groups.append({"params": list(self.private.values()), "lr": settings.lr * settings.private_lr_scale})
        # One optimiser over both, so opacus clips each record's gradient over shared and private together.
        self.dp_opt = RowSparseDPOptimizer(torch.optim.Adam(groups, lr=settings.lr),
                                           noise_multiplier=noise_multiplier, max_grad_norm=clip_norm,
                                           expected_batch_size=1, loss_reduction="mean", generator=generator)
        # Lookup tables and the axis their rows lie on; each record sees only the rows it reads.
        tables = {ITEM_TABLE: 0, **{f"private.{n}": axis for n, axis in PrivateUserState.USER_AXIS.items()}}
        self.tables = {n: axis for n, axis in tables.items() if row_sparse and (n in self.shared or n in self.private)}

        def one_loss(dense, tables, seq, cands, users, rating, codes):
            # codes: the ad feature rows of (seq, cands) read before the id table was renumbered
            codes = tuple({k: v[None] for k, v in c.items()} for c in codes) if codes[0] else None
            out = functional_call(self.wrapped, {**dense, **tables}, (seq[None], cands[None], users[None], codes))
            loss = example_losses(out, rating[None], settings)[0]
            return loss, (loss.detach(), out["gate"][0])

        self._per_example = vmap(grad(one_loss, argnums=(0, 1), has_aux=True), in_dims=(None, 0, 0, 0, 0, 0, 0),
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

    def record_gradients(self, seq, users, cands, rating):
        """Every record's gradient of the shared and the private parameters, its loss and its gate.

        Returns (grads, rows, (losses, gates)): grads[name] is (B, *shape); for a lookup table the
        table's axis holds only the record's rows, whose numbers rows[name] (B, K) gives.
        """
        rows = {n: users[:, None] for n in self.tables if n != ITEM_TABLE}
        if rows:  # each record's private slices hold its own user only, at position 0
            users = torch.zeros_like(users)
        model = self.wrapped.model
        codes = (model.feature_codes(seq), model.feature_codes(cands)) if model.reads_catalogue else ({}, {})
        if ITEM_TABLE in self.tables:
            rows[ITEM_TABLE], local = compact_ids(torch.cat([seq, cands], dim=1))
            seq, cands = local[:, :seq.shape[1]], local[:, seq.shape[1]:]
        params = {k: p.detach() for k, p in (*self.shared.items(), *self.private.items())}
        tables = {n: gather_rows(params.pop(n), rows[n], axis) for n, axis in self.tables.items()}
        # The fused attention kernels have no vmap batching rule (torch falls back to a per-record
        # loop); the math kernel batches.
        with sdpa_kernel(SDPBackend.MATH):
            (g_dense, g_tables), aux = self._per_example(params, tables, seq, cands, users, rating, codes)
        return {**g_dense, **g_tables}, rows, aux

    def dense_record_gradients(self, seq, users, cands, rating) -> dict[str, torch.Tensor]:
        """record_gradients with each table's rows scattered into its full shape (for tests and checks)."""
        grads, rows, _ = self.record_gradients(seq, users, cands, rating)
        for n, axis in self.tables.items():
            table = self.shared.get(n, self.private.get(n))
            grads[n] = torch.stack([scatter_rows(grads[n][i:i + 1], rows[n][i:i + 1], table.shape, axis)
                                    for i in range(len(seq))])
        return grads

    def record_gradient_norms(self, seq, users, cands, rating) -> torch.Tensor:
        """Each record's gradient norm over the shared and private parameters together: what clipping
        compares with C (bench/dp_grad_norms reads it to choose C)."""
        grads, _, _ = self.record_gradients(seq, users, cands, rating)
        return torch.sqrt(sum((g.flatten(1) ** 2).sum(1) for g in grads.values()))

    def step(self, seq, users, cands, rating) -> tuple[float, torch.Tensor]:
        if len(seq) == 0:
            # An empty Poisson batch still releases noise: a zero gradient plus N(0, σ²C²).
            for p in (*self.shared.values(), *self.private.values()):
                p.grad_sample = torch.zeros((1, *p.shape), device=p.device)
            gate, loss_sum = torch.zeros(0, 1), 0.0
        else:
            grads, rows, (losses, gate) = self.record_gradients(seq, users, cands, rating)
            loss_sum = float(losses.sum())
            for k, p in (*self.shared.items(), *self.private.items()):
                p.grad_sample = grads[k]
                if k in self.tables:
                    p.grad_rows, p.grad_row_axis = rows[k], self.tables[k]
        self.dp_opt.step()
        self.dp_opt.zero_grad(set_to_none=True)
        return loss_sum, gate

"""Per-record gradients of lookup tables, kept to the rows a record reads.

A record's gradient of an embedding table is zero outside the rows its lookups touch (the items of
its sequence and candidates; its own user's private row). Materialising it densely costs
records × rows × width per step, which on MovieLens-1M was most of a DP-SGD step and would rule
record-level DP out for real catalogues. Here each record carries only the rows it reads, with
their row numbers: the norm is exact (the other rows are zero) and the clipped sum is scattered
back into a full-size gradient, on which opacus adds its noise to every row as before.
"""
from __future__ import annotations

import torch
from opacus.optimizers import DPOptimizer
from opacus.optimizers.optimizer import _check_processed_flag, _mark_as_processed


def compact_ids(ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """ids (B, N) of one table → rows (B, N + 1), each record's distinct ids (row 0, the padding row,
    always first, unused slots 0 too), and local (B, N), ids renumbered as positions in its rows.

    Each record's rows are distinct apart from repeats of the padding row, which is never trained,
    so a record's gradient over its rows has the norm of its gradient over the whole table.
    """
    b = ids.shape[0]
    padded = torch.cat([torch.zeros(b, 1, dtype=ids.dtype, device=ids.device), ids], dim=1)
    ordered, order = padded.sort(dim=1)
    first = torch.ones_like(ordered, dtype=torch.bool)
    first[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    rank = first.long().cumsum(1) - 1  # id 0 sorts first, so it is position 0 in every record
    rows = torch.zeros_like(padded).scatter_(1, rank, ordered)
    local = torch.empty_like(padded).scatter_(1, order, rank)
    return rows, local[:, 1:]


def gather_rows(table: torch.Tensor, rows: torch.Tensor, axis: int = 0) -> torch.Tensor:
    """Each record's rows of `table` along `axis`: (B, *table.shape with axis of size K) for rows (B, K)."""
    picked = table.index_select(axis, rows.reshape(-1)).unflatten(axis, tuple(rows.shape))
    return picked.movedim(axis, 0)


def scatter_rows(per_record: torch.Tensor, rows: torch.Tensor, shape: torch.Size, axis: int = 0) -> torch.Tensor:
    """Inverse of gather_rows for gradients: the sum over records, each added at its own rows."""
    flat = per_record.movedim(0, axis).flatten(axis, axis + 1)
    return torch.zeros(shape, dtype=per_record.dtype, device=per_record.device).index_add_(axis, rows.reshape(-1), flat)


class RowSparseDPOptimizer(DPOptimizer):
    """opacus's DPOptimizer, accepting per-record gradients that hold only the rows each record read.

    A parameter whose `grad_sample` is (B, *shape with `grad_row_axis` of size K) carries `grad_rows`
    (B, K), the rows those K slices belong to. Per-record norms are taken over all parameters as
    opacus does, and the clip factors are the same formula; only the accumulation of such a parameter
    scatters rows instead of summing dense slices. Noise, scaling and the inner step stay opacus's.
    """

    def clip_and_accumulate(self):
        samples = self.grad_samples
        if len(samples[0]) == 0:
            factor = torch.zeros((0,), device=samples[0].device)
        else:
            norms = torch.stack([g.reshape(len(g), -1).norm(2, dim=-1) for g in samples], dim=1).norm(2, dim=1)
            factor = (self.max_grad_norm / (norms + 1e-6)).clamp(max=1.0)
        for p in self.params:
            _check_processed_flag(p.grad_sample)
            g = self._get_flat_grad_sample(p).to(p.dtype)
            scaled = g * factor.to(g.device, p.dtype).view(-1, *[1] * (g.dim() - 1))
            rows = getattr(p, "grad_rows", None)
            grad = scaled.sum(0) if rows is None else scatter_rows(scaled, rows, p.shape, p.grad_row_axis)
            p.summed_grad = grad if p.summed_grad is None else p.summed_grad + grad
            p.grad_rows = None
            _mark_as_processed(p.grad_sample)

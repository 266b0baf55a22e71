"""DIN target attention: the candidate ad attends over the encoded behaviour sequence."""
from __future__ import annotations

import torch
from torch import nn


class TargetAttention(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(4 * dim, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, keys: torch.Tensor, pad_mask: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
        """keys (B, L, D), pad_mask (B, L) True at padding, query (B, C, D) → pooled (B, C, D)."""
        b, l, d = keys.shape
        c = query.shape[1]
        k = keys.unsqueeze(1).expand(b, c, l, d)
        q = query.unsqueeze(2).expand(b, c, l, d)
        scores = self.mlp(torch.cat([k, q, k - q, k * q], dim=-1)).squeeze(-1)  # (B, C, L)
        scores = scores.masked_fill(pad_mask.unsqueeze(1), float("-inf"))
        # A user with an empty history would give an all -inf row; zero weights instead of NaN.
        weights = torch.nan_to_num(torch.softmax(scores, dim=-1), nan=0.0)
        return torch.einsum("bcl,bld->bcd", weights, keys)

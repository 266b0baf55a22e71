"""Transformer encoder over the behaviour sequence with the multifaceted FFN sublayer."""
from __future__ import annotations

import torch
from torch import nn

from admodels.layers.multifaceted_ffn import MultifacetedFFN


class EncoderLayer(nn.Module):
    def __init__(self, dim: int, heads: int, hidden: int, n_groups: int, dropout: float):
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = MultifacetedFFN(dim, hidden, n_groups, dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, x, pad_mask, attn_mask, gate, private_down, private_up):
        h = self.norm1(x)
        a, _ = self.attn(h, h, h, key_padding_mask=pad_mask, attn_mask=attn_mask, need_weights=False)
        x = x + self.drop(a)
        x = x + self.drop(self.ffn(self.norm2(x), gate, private_down, private_up))
        return x


def causal_mask(length: int, device) -> torch.Tensor:
    return torch.triu(torch.ones(length, length, dtype=torch.bool, device=device), diagonal=1)

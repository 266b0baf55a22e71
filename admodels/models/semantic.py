"""The semantic stage (SF-UBM): frozen text vectors of the ads, a shared adaptor, and the distillation of
that semantic space into the ad id embeddings.

- The text vectors come from the catalogue (a sentence encoder over each ad's public text, built once by
  `fedads-catalog build`). Like the feature codes they are not weights: a model holds them as a
  non-persistent buffer read from the catalogue it names, at sites and in serving, and never publishes them.
- The adaptor is one `global` Linear layer from the encoder's width to the model's: it is trained by every
  site and aggregated like any shared parameter, so sites of different domains meet in one space.
- `semantic_embed(ids)` (FedAdsModel) is the stage's output: one D-dimensional vector per ad. A later stage
  that prompts a language model can read these vectors as soft-prompt tokens (one token per ad of a user's
  behaviour, after a further projection to the language model's width); nothing here depends on it.
- Distillation (`Distillation`) pulls each ad's id embedding toward its projected semantic embedding, weighted
  by how little the site has seen the ad (w = exp(−count at the site)): rarely seen ads take their place
  from the semantics, often seen ones keep their collaborative signal. Counts are computed on site from its
  own training records and never leave it; only the distilled id embeddings are aggregated, as usual.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from admodels.scopes import GLOBAL, declare_scope

# The key under which AdFeatures-style code dictionaries carry an ad's own catalogue index (the text
# vectors are read by it), so that a caller that renumbers the id table (DP-SGD) keeps the semantics right.
AD_INDEX = "__ad__"


class SemanticAdaptor(nn.Module):
    """(..., S) frozen text vectors → (..., D). Global scope: every site trains and shares it."""

    def __init__(self, text_dim: int, dim: int):
        super().__init__()
        self.proj = nn.Linear(text_dim, dim)
        declare_scope(self, GLOBAL)

    def forward(self, vectors: torch.Tensor) -> torch.Tensor:
        return self.proj(vectors)


def item_counts(data) -> np.ndarray:
    """(n_items + 1,) how often the site's training records read each ad (held-out items excluded): its
    own interactions for interaction-only data, its training-split impressions otherwise. Computed on
    site; never sent."""
    from admodels.data.impressions import ImpressionData

    if isinstance(data, ImpressionData):
        items = data.item[data.indices("train")]
    else:
        mask = np.ones(len(data.items), dtype=bool)
        for back in range(1, data.holdout + 1):
            mask[np.maximum(data.ends - back, data.starts)] = False
        items = data.items[mask]
    return np.bincount(items, minlength=data.n_items + 1).astype(np.float64)


def rarity_weights(counts: np.ndarray) -> np.ndarray:
    """w = exp(−count): 1 for an ad the site never saw, 0.37 after one interaction, 0.05 after three.

    1 / (1 + count) was tried first (reports/semantic.md): it still pulls ads a site saw a few times, which
    cost warm accuracy (−0.085 HR@10 at λ = 1 against −0.051 with this decay, cold HR@10 alike)."""
    w = np.exp(-np.asarray(counts, dtype=np.float64))
    w[0] = 0.0  # the padding ad
    return w


class Distillation:
    """λ · Σ_i w_i ‖e_i − sg(s_i)‖² / n (w_i = rarity_weights) over the distinct ads i a batch reads (its behaviour sequences and
    candidates, sampled negatives included), e_i the id embedding, s_i = semantic_embed(i).

    The semantic side is detached (sg): the adaptor learns only from the ranking loss, so the space it
    defines is the one that ranks, and is not dragged toward the id rows of ads the site never saw (whose
    id rows are still near their random initialisation; undetached, every rare ad would pull the shared
    adaptor toward noise). The id rows move; the semantics teach."""

    def __init__(self, model, counts: np.ndarray, weight: float):
        if getattr(model, "semantic", None) is None:
            raise ValueError("distillation needs a model with semantics (use_semantics on a catalogue with text "
                             "vectors)")
        self.model, self.weight = model, float(weight)
        self.rarity = torch.from_numpy(rarity_weights(counts)).float().to(model.item_emb.weight.device)

    def loss(self, ids: torch.Tensor) -> torch.Tensor:
        ids = torch.unique(ids.reshape(-1))
        ids = ids[ids != 0]
        e = self.model.item_emb(ids)
        s = self.model.semantic_embed(ids).detach()
        per_item = ((e - s) ** 2).sum(-1)
        return self.weight * (self.rarity[ids] * per_item).sum() / max(len(ids), 1)


__all__ = ["AD_INDEX", "Distillation", "SemanticAdaptor", "item_counts", "rarity_weights"]

"""The full FedAds model: item embeddings → Transformer with multifaceted FFN → DIN → CTR/CVR/value heads."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

import numpy as np
import torch
from torch import nn

from admodels.layers.din import TargetAttention
from admodels.layers.encoder import EncoderLayer, causal_mask
from admodels.layers.multifaceted_ffn import GatingNetwork, InterestEncoder
from admodels.layers.positional import sinusoidal_positions
from admodels.models.ad_features import AdFeatures
from admodels.models.semantic import AD_INDEX, SemanticAdaptor
from admodels.models.user_features import GLOBAL as GLOBAL_FEATURE
from admodels.models.user_features import UserFeatureCodes, check_user_features, global_rows
from admodels.scopes import GLOBAL, PRIVATE, declare_scope, parameter_scopes, statistic_parameters


@dataclass
class ModelConfig:
    n_items: int
    dim: int = 32
    layers: int = 2
    heads: int = 2
    ffn_hidden: int = 64
    groups: int = 4
    private_rank: int = 4
    max_seq_len: int = 50
    dropout: float = 0.1
    causal: bool = False
    din_hidden: int = 32
    head_hidden: int = 64
    use_din: bool = True
    use_groups: bool = True
    use_private: bool = True  # baselines without per-user private parameters set this to False
    # False: an id-only model (no ad feature tables), for comparison. Read when a first model is sized from
    # its catalogue (admodels.models.ad_features.initial_config), which fills `features`.
    use_features: bool = True
    # The ad feature tables, sized from the catalogue: [{"name", "kind", "rows", "multi"}]. Empty: id-only.
    features: list = field(default_factory=list)
    # Training only, feature models only: the share of ad occurrences whose id embedding is dropped, so that
    # the model learns to score an ad through its features, as it must for ads it never saw (cold start).
    id_dropout: float = 0.0
    # The user-feature columns the user vector reads (admodels.models.user_features): [{"name", "scope",
    # "values"}]; `global` ones are shared tables with the listed values, `private` ones live at each site.
    user_features: list = field(default_factory=list)
    # True: the ads' frozen text vectors (the catalogue's semantic.parquet) enter the ad embedding through a
    # global adaptor (admodels.models.semantic). semantic_dim is their width, filled from the catalogue by
    # initial_config as `features` is; 0: no semantic stage (the model is exactly the one without it).
    use_semantics: bool = False
    semantic_dim: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown model config keys: {sorted(unknown)}")
        return cls(**data)


class PrivateUserState(nn.Module):
    """A site's private parameters: one embedding and one low-rank FFN per local user, and the site's own
    user-feature tables (with each user's codes, as unsaved buffers). Never sent."""

    # Which axis of each tensor is the user's (a record reads only its own user's slice: DP-SGD's
    # per-record gradients keep just that slice, privacy.dp.row_sparse).
    USER_AXIS = {"user_emb": 0, "ffn_down": 1, "ffn_up": 1}

    def __init__(self, config: ModelConfig, n_users: int, seed: int = 0,
                 user_features: UserFeatureCodes | None = None):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        d, r = config.dim, config.private_rank
        self.user_emb = nn.Parameter(torch.randn(n_users, d, generator=gen) * 0.02)
        self.ffn_down = nn.Parameter(torch.randn(config.layers, n_users, d, r, generator=gen) * (d ** -0.5))
        # Up-projection starts at zero so a new user's private FFN starts as a no-op.
        self.ffn_up = nn.Parameter(torch.zeros(config.layers, n_users, r, d))
        # The site's user-feature tables: their own generator, so a state without them draws as before.
        self.user_feature_emb = nn.ParameterDict()
        self._user_codes: dict[str, tuple[str, bool]] = {}  # feature -> (buffer, reads a shared table)
        if user_features is not None and not user_features.empty:
            fgen = torch.Generator().manual_seed(seed + 1)
            for name, rows in user_features.private_rows.items():
                table = torch.randn(rows, d, generator=fgen) * 0.02
                table[0] = 0.0
                self.user_feature_emb[name] = nn.Parameter(table)
            for i, (name, codes) in enumerate([*user_features.private_codes.items(),
                                               *user_features.global_codes.items()]):
                if len(codes) != n_users:
                    raise ValueError(f"user feature {name!r} has codes for {len(codes)} users, the state {n_users}")
                self.register_buffer(f"_ucodes_{i}", torch.from_numpy(codes), persistent=False)
                self._user_codes[name] = (f"_ucodes_{i}", name in user_features.global_codes)
        declare_scope(self, PRIVATE)

    @property
    def n_users(self) -> int:
        return self.user_emb.shape[0]

    @property
    def has_user_features(self) -> bool:
        return bool(self._user_codes)

    def per_user_parameters(self) -> list[nn.Parameter]:
        """Rows each of which one user trains (the private rate applies); the feature tables are shared by
        the site's users and train at the shared rate."""
        return [self.user_emb, self.ffn_down, self.ffn_up]

    def feature_vector(self, users: torch.Tensor, shared_tables: nn.ModuleDict) -> torch.Tensor | None:
        """(B, D): the sum of the users' feature embeddings, private tables and shared ones."""
        out = None
        for name, (buf, shared) in self._user_codes.items():
            codes = getattr(self, buf)[users]
            if shared:
                if name not in shared_tables:
                    raise ValueError(f"the model has no shared table for the user feature {name!r}")
                v = shared_tables[name](codes)
            else:
                v = nn.functional.embedding(codes, self.user_feature_emb[name], padding_idx=0)
            out = v if out is None else out + v
        return out


class ScoreHead(nn.Module):
    def __init__(self, in_dim: int, hidden: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).squeeze(-1)


class FedAdsModel(nn.Module):
    """Shared (`global` and `group:k`) parameters; private ones come in through a PrivateUserState.

    An ad's representation is its id embedding plus its feature embeddings (one table per declared
    feature, mean-pooled over a multi-valued feature's values). The same tables embed the behaviour
    sequence and the candidates, as DIN does. A model that declares features reads each ad's codes from
    the AdFeatures of its catalogue (buffers, never published)."""

    def __init__(self, config: ModelConfig, ad_features: AdFeatures | None = None):
        super().__init__()
        self.config = config
        d = config.dim
        self.item_emb = nn.Embedding(config.n_items + 1, d, padding_idx=0)
        nn.init.normal_(self.item_emb.weight, std=0.05)
        with torch.no_grad():
            self.item_emb.weight[0].zero_()
        self.register_buffer("positions", sinusoidal_positions(config.max_seq_len, d), persistent=False)
        self.emb_drop = nn.Dropout(config.dropout)
        self.interest = InterestEncoder(d)
        self.gate = GatingNetwork(d, config.groups)
        self.layers = nn.ModuleList(EncoderLayer(d, config.heads, config.ffn_hidden, config.groups, config.dropout)
                                    for _ in range(config.layers))
        self.final_norm = nn.LayerNorm(d)
        self.din = TargetAttention(d, config.din_hidden)
        self.ctr_head = ScoreHead(4 * d, config.head_hidden)
        self.cvr_head = ScoreHead(4 * d, config.head_hidden)
        self.value_head = ScoreHead(4 * d, config.head_hidden)
        # Created last, so that an id-only model's parameters initialise exactly as they did before features.
        self.feature_emb = declare_scope(nn.ModuleDict(), GLOBAL)
        for f in config.features:
            table = nn.Embedding(int(f["rows"]), d, padding_idx=0)
            nn.init.normal_(table.weight, std=0.05)
            with torch.no_grad():
                table.weight[0].zero_()
            self.feature_emb[f["name"]] = table
        # User-side: the shared tables of the public user features, created after every ad-side parameter
        # so that a model without them initialises as before. Private ones live in PrivateUserState.
        check_user_features(config.user_features)
        self.user_feature_emb = declare_scope(nn.ModuleDict(), GLOBAL)
        for f in config.user_features:
            if f.get("scope") == GLOBAL_FEATURE:
                table = nn.Embedding(global_rows(f), d, padding_idx=0)
                nn.init.normal_(table.weight, std=0.05)
                with torch.no_grad():
                    table.weight[0].zero_()
                self.user_feature_emb[f["name"]] = table
        self._code_buffers: dict[str, str] = {}
        if config.use_semantics and not config.semantic_dim:
            raise ValueError("use_semantics needs semantic_dim, the width of the catalogue's text vectors: size "
                             "the config from its catalogue (admodels.models.ad_features.initial_config)")
        # After the feature tables, so that a model without semantics initialises exactly as before.
        self.semantic = SemanticAdaptor(config.semantic_dim, d) if config.semantic_dim else None
        if ad_features is not None:
            self.attach_features(ad_features)

    def attach_features(self, ad_features: AdFeatures) -> None:
        """Take each ad's feature codes (and text vectors) from a catalogue (AdFeatures.from_catalog)."""
        if self.semantic is not None:
            vectors = ad_features.semantic
            shape = (self.config.n_items + 1, self.config.semantic_dim)
            if vectors is None or vectors.shape != shape:
                got = None if vectors is None else tuple(vectors.shape)
                raise ValueError(f"the model reads text vectors of shape {shape}, the ad features hold {got}")
            self.register_buffer("_semantic_vectors", torch.from_numpy(vectors).to(self.item_emb.weight.device),
                                 persistent=False)
        missing = set(self.feature_emb) - set(ad_features.codes)
        if missing:
            raise ValueError(f"the ad features lack the model's feature(s) {sorted(missing)}")
        if ad_features.n_ads != self.config.n_items:
            raise ValueError(f"the ad features cover {ad_features.n_ads} ads, the model {self.config.n_items}")
        for i, name in enumerate(self.feature_emb):
            codes = torch.from_numpy(ad_features.codes[name])
            if int(codes.max()) >= self.feature_emb[name].num_embeddings:
                raise ValueError(f"feature {name!r} has codes beyond its table's "
                                 f"{self.feature_emb[name].num_embeddings} rows")
            buf = f"_codes_{i}"
            device = self.item_emb.weight.device
            self.register_buffer(buf, codes.to(device), persistent=False)
            self._code_buffers[name] = buf

    def feature_codes(self, ids: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per feature, the table rows (..., K) of each ad index in ids."""
        if len(self._code_buffers) != len(self.feature_emb):
            raise RuntimeError("this model declares ad features but has none attached; build it with the "
                               "AdFeatures of its catalogue (admodels.models.ad_features.model_features)")
        out = {name: getattr(self, buf)[ids] for name, buf in self._code_buffers.items()}
        if self.semantic is not None:
            out[AD_INDEX] = ids.unsqueeze(-1)  # the text vectors are read by the ad's own catalogue index
        return out

    @property
    def reads_catalogue(self) -> bool:
        """Whether ad_embed reads per-ad data from the catalogue (feature codes or text vectors)."""
        return bool(len(self.feature_emb)) or self.semantic is not None

    def semantic_embed(self, ids: torch.Tensor) -> torch.Tensor:
        """(..., D) the projected text vectors of ad indices ids: the semantic stage's output, what
        distillation pulls id embeddings toward, and what a later language-model stage can read as soft
        prompts (admodels.models.semantic)."""
        if self.semantic is None:
            raise RuntimeError("this model has no semantic stage (use_semantics)")
        if not hasattr(self, "_semantic_vectors"):
            raise RuntimeError("this model reads text vectors but has none attached; build it with the AdFeatures "
                               "of its catalogue (admodels.models.ad_features.model_features)")
        if ids.numel() > self._semantic_vectors.shape[0]:
            # Linear: projecting every ad once and gathering equals gathering then projecting, and a batch of
            # behaviour sequences reads far more rows than the catalogue holds.
            return self.semantic(self._semantic_vectors)[ids]
        return self.semantic(self._semantic_vectors[ids])

    def ad_embed(self, ids: torch.Tensor, codes: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """(..., D): id embedding + feature embeddings (+ projected text vectors). codes: the feature rows of
        ids, given by a caller that renumbered the id table (DP-SGD's row-sparse per-record gradients); by
        default read from ids."""
        x = self.item_emb(ids)
        if not self.reads_catalogue:
            return x
        if self.training and self.config.id_dropout > 0:
            keep = torch.rand(ids.shape, device=ids.device) >= self.config.id_dropout
            x = x * keep.unsqueeze(-1).to(x.dtype)
        codes = self.feature_codes(ids) if codes is None else codes
        for name, table in self.feature_emb.items():
            c = codes[name]
            count = c.ne(0).sum(-1, keepdim=True).clamp(min=1).to(x.dtype)
            x = x + table(c).sum(-2) / count
        if self.semantic is not None:
            x = x + self.semantic_embed(codes[AD_INDEX][..., 0])
        return x

    def shared_scopes(self) -> dict[str, str]:
        return parameter_scopes(self)

    def shared_statistics(self) -> set[str]:
        return statistic_parameters(self)

    def publication(self) -> dict:
        """What ModelRegistry.publish needs of this model (tensors, scopes, statistics, config), so that no
        publisher can leave one of the declarations out."""
        return {"tensors": self.shared_state(), "scopes": self.shared_scopes(),
                "statistics": self.shared_statistics(), "model_config": self.config.to_dict()}

    def encode(self, seq: torch.Tensor, users: torch.Tensor | None, private: PrivateUserState | None,
               x: torch.Tensor | None = None):
        """seq (B, L) item ids left-padded with 0 → hidden (B, L, D), pad mask, user vector (B, D), gate (B, G).
        x: the sequence's ad embeddings, where the caller has them already."""
        if not self.config.use_private:
            private = None
        pad = seq.eq(0)
        x = self.ad_embed(seq) if x is None else x
        valid = (~pad).unsqueeze(-1).float()
        summary = self.interest(x)
        user_emb = private.user_emb[users] if private is not None else torch.zeros_like(summary)
        if private is not None and private.has_user_features:
            user_emb = user_emb + private.feature_vector(users, self.user_feature_emb)
        if self.config.use_groups:
            gate = self.gate(summary, user_emb)
        else:
            gate = torch.full((seq.shape[0], self.config.groups), 1.0 / self.config.groups, device=seq.device)
        x = self.emb_drop(x * (self.config.dim ** 0.5) + self.positions[-seq.shape[1]:])
        attn_mask = causal_mask(seq.shape[1], seq.device) if self.config.causal else None
        # A fully padded row would make attention NaN; let such rows attend to their last slot.
        pad_for_attn = pad.clone()
        pad_for_attn[:, -1] = False
        for i, layer in enumerate(self.layers):
            down = private.ffn_down[i][users] if private is not None else None
            up = private.ffn_up[i][users] if private is not None else None
            x = layer(x, pad_for_attn, attn_mask, gate, down, up)
        h = self.final_norm(x)
        user_vec = (h * valid).sum(1) / valid.sum(1).clamp(min=1.0) + user_emb
        return h, pad, user_vec, gate

    @torch.no_grad()
    def interest_embedding(self, seq: torch.Tensor) -> torch.Tensor:
        """Mean interest embedding of a set of users' behaviour sequences (a site's u_i)."""
        return self.interest(self.ad_embed(seq)).mean(0)

    def forward(self, seq: torch.Tensor, candidates: torch.Tensor, users: torch.Tensor | None = None,
                private: PrivateUserState | None = None, codes: tuple | None = None) -> dict[str, torch.Tensor]:
        """codes (DP-SGD only): the feature codes of (seq, candidates) when these are renumbered ids."""
        seq_codes, cand_codes = codes if codes is not None else (None, None)
        h, pad, user_vec, gate = self.encode(seq, users, private, self.ad_embed(seq, seq_codes))
        cand = self.ad_embed(candidates, cand_codes)  # (B, C, D)
        if self.config.use_din:
            pooled = self.din(h, pad, cand)
        else:
            pooled = user_vec.unsqueeze(1).expand_as(cand)
        z = torch.cat([pooled, cand, pooled * cand, user_vec.unsqueeze(1).expand_as(cand)], dim=-1)
        return {"ctr_logit": self.ctr_head(z), "cvr_logit": self.cvr_head(z), "value": self.value_head(z),
                "gate": gate}

    # --- exchange with the registry (numpy, float32) ---
    def shared_state(self) -> dict[str, np.ndarray]:
        return {name: p.detach().cpu().numpy().copy() for name, p in self.named_parameters()}

    def load_shared_state(self, tensors: dict[str, np.ndarray]) -> None:
        params = dict(self.named_parameters())
        missing = set(params) - set(tensors)
        unexpected = set(tensors) - set(params)
        if missing or unexpected:
            raise ValueError(f"model state mismatch: missing {sorted(missing)}, unexpected {sorted(unexpected)}")
        with torch.no_grad():
            for name, p in params.items():
                value = torch.from_numpy(np.asarray(tensors[name]))
                if value.shape != p.shape:
                    raise ValueError(f"tensor {name!r} has shape {tuple(value.shape)}, model has {tuple(p.shape)}")
                p.copy_(value)


def build_model(config: ModelConfig, seed: int = 0, ad_features: AdFeatures | None = None) -> FedAdsModel:
    torch.manual_seed(seed)
    return FedAdsModel(config, ad_features)

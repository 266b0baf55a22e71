"""The one local training and evaluation path, used centrally, by every site, and in simulation."""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from itertools import islice

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from admodels.ad_eval import impression_metrics
from admodels.data.impressions import ImpressionData
from admodels.data.sequences import SequenceData
from admodels.layers.multifaceted_ffn import balance_loss
from admodels.metrics import auc, hit_rate_at_k, ndcg_at_k
from admodels.models.fedads_model import FedAdsModel, PrivateUserState
from admodels.models.semantic import Distillation, item_counts


# The one default of the distillation weight λ of SF-UBM's federated knowledge distillation (off; see
# admodels.models.semantic): TrainSettings, the simulation and the agent's reading of a TrainConfig.
DISTILL_WEIGHT = 0.0

NEGATIVES_FROM = "catalogue"
NEGATIVE_SOURCES = ("catalogue", "site")

# The one default of the private parameters' rate (× lr): local training, federated rounds
# (coordinator/round_config.py) and the agent's reading of a TrainConfig that leaves it 0.
PRIVATE_LR_SCALE = 0.1


@dataclass
class TrainSettings:
    epochs: int = 1
    lr: float = 1e-3
    batch_size: int = 256
    negatives: int = 4
    prox_mu: float = 0.0
    seed: int = 0
    max_targets_per_user: int = 0  # 0: every training target each epoch
    max_steps: int = 0  # > 0: stop after this many minibatch steps, even within an epoch
    ctr_weight: float = 1.0
    ctcvr_weight: float = 0.5
    value_weight: float = 0.1
    balance_weight: float = 0.01
    weight_decay: float = 0.0
    # The private parameters' rate as a multiple of lr. Each user's private rows see only that user's few
    # records, every round, so at the shared rate they overfit them (measured in reports/accuracy_*.md).
    private_lr_scale: float = PRIVATE_LR_SCALE
    # λ of the distillation term pulling rarely seen ads' id embeddings toward their projected semantics
    # (admodels.models.semantic.Distillation); needs a model with semantics; 0: off.
    distill_weight: float = DISTILL_WEIGHT
    # Where sampled negatives come from: "catalogue" (every ad) or "site" (the ads of the site's own
    # training records, its slice of the catalogue). A site of one domain then never pushes down the
    # ads of another domain, nor ads no site has shown yet, as negatives it never showed.
    negatives_from: str = NEGATIVES_FROM


@dataclass
class TrainStats:
    num_samples: int
    loss: float
    seconds: float
    group_mass: np.ndarray = field(repr=False)
    optimizer_state: dict | None = field(default=None, repr=False)
    records_per_epoch: int = 0  # the training records one whole epoch reads

    @property
    def samples_per_s(self) -> float:
        return self.num_samples / self.seconds if self.seconds > 0 else 0.0


def pick_device(requested: str = "auto") -> torch.device:
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def epoch_targets(data: SequenceData, max_targets_per_user: int = 0) -> np.ndarray:
    """The training records of one epoch (indices of target interactions), in data order."""
    targets = data.train_targets()
    if max_targets_per_user > 0 and not isinstance(data, ImpressionData):
        # Keep each user's most recent targets, so heavy users do not dominate an epoch.
        users = data.user_of(targets)
        from_end = data.ends[users] - 1 - targets
        targets = targets[from_end <= max_targets_per_user]
    return targets


def _epoch_targets(data: SequenceData, settings: TrainSettings, rng: np.random.Generator) -> np.ndarray:
    return rng.permutation(epoch_targets(data, settings.max_targets_per_user))


def negative_pool(data, negatives_from: str) -> torch.Tensor | None:
    """The ad indices negatives are drawn from (None: every ad of the catalogue)."""
    if negatives_from not in NEGATIVE_SOURCES:
        raise ValueError(f"negatives_from must be one of {', '.join(NEGATIVE_SOURCES)}, not {negatives_from!r}")
    if negatives_from == "catalogue" or isinstance(data, ImpressionData):
        return None
    pool = np.flatnonzero(item_counts(data) > 0)
    return torch.from_numpy(pool) if len(pool) > 1 else None


def candidate_batch(data: SequenceData, idx: np.ndarray, negatives: int, gen: torch.Generator,
                    device: torch.device, pool: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
    """(histories, users, candidates with the target first, labels) for training targets idx; labels (B, 2)
    hold each target's conversion and value target. Impression data: its own ad as the one candidate and no
    sampled negatives; labels (B, 3) hold click, conversion and value (ImpressionData.batch). pool: the ads
    negatives are drawn from (negative_pool), uniformly; None: the whole catalogue."""
    if isinstance(data, ImpressionData):
        return data.batch(idx, device)
    seq = torch.from_numpy(data.histories(idx)).to(device)
    users = torch.from_numpy(data.user_of(idx)).to(device)
    pos = torch.from_numpy(data.items[idx]).to(device)
    if pool is None:
        neg = torch.randint(1, data.n_items + 1, (len(idx), negatives), generator=gen).to(device)
    else:
        neg = pool[torch.randint(0, len(pool), (len(idx), negatives), generator=gen)].to(device)
    labels = torch.from_numpy(np.stack([data.conversions[idx], data.values[idx]], 1)).to(device)
    return seq, users, torch.cat([pos.unsqueeze(1), neg], dim=1), labels


def example_losses(out: dict, labels: torch.Tensor, settings: TrainSettings) -> torch.Tensor:
    """λ1·L_CTR + λ2·L_CTCVR + λ3·L_value per example (B,); the batch loss is their mean plus balance.

    labels (B, 2): conversion and value of candidate 0, the clicked target among sampled negatives;
    labels (B, 3): click, conversion and value of an impression (one candidate), the value head trained on
    conversions only."""
    if labels.shape[1] == 3:
        click, conv = labels[:, :1], labels[:, 1:2]
        ctr = F.binary_cross_entropy_with_logits(out["ctr_logit"], click, reduction="none").mean(1)
        p_ctcvr = (torch.sigmoid(out["ctr_logit"]) * torch.sigmoid(out["cvr_logit"])).clamp(1e-7, 1 - 1e-7)
        ctcvr = F.binary_cross_entropy(p_ctcvr, conv, reduction="none").mean(1)
        value = conv[:, 0] * (out["value"][:, 0] - labels[:, 2]) ** 2
        return settings.ctr_weight * ctr + settings.ctcvr_weight * ctcvr + settings.value_weight * value
    click = torch.zeros_like(out["ctr_logit"])
    click[:, 0] = 1.0
    conv = torch.zeros_like(click)
    conv[:, 0] = labels[:, 0]
    ctr = F.binary_cross_entropy_with_logits(out["ctr_logit"], click, reduction="none").mean(1)
    # ESMM: supervise pCTCVR = pCTR·pCVR over the entire candidate space.
    p_ctcvr = (torch.sigmoid(out["ctr_logit"]) * torch.sigmoid(out["cvr_logit"])).clamp(1e-7, 1 - 1e-7)
    ctcvr = F.binary_cross_entropy(p_ctcvr, conv, reduction="none").mean(1)
    value = (out["value"][:, 0] - labels[:, 1]) ** 2
    return settings.ctr_weight * ctr + settings.ctcvr_weight * ctcvr + settings.value_weight * value


class LocalStep:
    """How one batch updates the parameters; the default is plain Adam on the mean loss.
    DP-SGD (privacy.dp.dpsgd) replaces it with Poisson sampling and per-example clipping and noise."""

    def __init__(self, model: FedAdsModel, private: PrivateUserState | None, settings: TrainSettings):
        params = [{"params": list(model.parameters())}]
        if private is not None:
            params.append({"params": private.per_user_parameters(), "lr": settings.lr * settings.private_lr_scale})
            if len(private.user_feature_emb):
                params.append({"params": list(private.user_feature_emb.values()), "lr": settings.lr})
        self.opt = torch.optim.Adam(params, lr=settings.lr, weight_decay=settings.weight_decay)
        self.anchor = [p.detach().clone() for p in model.parameters()] if settings.prox_mu > 0 else None
        self.model, self.private, self.settings = model, private, settings
        self.distill = None  # a semantic.Distillation, set by train_local when settings.distill_weight > 0

    def batches(self, targets: np.ndarray, rng: np.random.Generator):
        for start in range(0, len(targets), self.settings.batch_size):
            yield targets[start:start + self.settings.batch_size]

    def num_batches(self, n_targets: int) -> int:
        return -(-n_targets // self.settings.batch_size)

    def step(self, seq, users, cands, rating) -> tuple[float, torch.Tensor]:
        """Returns the batch's summed loss and its gate (B, G)."""
        out = self.model(seq, cands, users, self.private)
        loss = example_losses(out, rating, self.settings).mean() + self.settings.balance_weight * balance_loss(out["gate"])
        if self.anchor is not None:
            prox = sum(((p - a) ** 2).sum() for p, a in zip(self.model.parameters(), self.anchor))
            loss = loss + 0.5 * self.settings.prox_mu * prox
        if self.distill is not None:
            loss = loss + self.distill.loss(torch.cat([seq.reshape(-1), cands.reshape(-1)]))
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return loss.item() * len(seq), out["gate"].detach()

    def state_dict(self) -> dict:
        """Adam's per-parameter moments and step counts; the learning rates are each call's own."""
        return self.opt.state_dict()["state"]

    def load_state_dict(self, state: dict) -> bool:
        return resume_optimizer(self.opt, state)


def resume_optimizer(opt: torch.optim.Optimizer, state: dict) -> bool:
    """Load an optimizer's per-parameter state (its state_dict()["state"]) under its current learning rates.
    False, leaving it fresh, when the state was saved for other parameters, e.g. a model whose architecture
    changed between rounds."""
    params = [p for g in opt.param_groups for p in g["params"]]
    fits = set(state) <= set(range(len(params))) and all(
        all(t.shape == params[i].shape for k, t in s.items() if k != "step") for i, s in state.items())
    if fits:
        opt.load_state_dict({"state": state, "param_groups": opt.state_dict()["param_groups"]})
    return fits


def train_local(model: FedAdsModel, private: PrivateUserState | None, data: SequenceData,
                settings: TrainSettings, device: torch.device | None = None, progress: str | None = None,
                step_factory=LocalStep, optimizer_state: dict | None = None) -> TrainStats:
    """With optimizer_state (a LocalStep's state_dict from an earlier call on the same parameters), the
    optimiser resumes from it; the returned stats carry the state to resume from next time."""
    if settings.max_steps < 0:
        raise ValueError(f"max_steps must be ≥ 0 (0: whole epochs), got {settings.max_steps}")
    device = device or torch.device("cpu")
    model.to(device).train()
    if private is not None:
        private.to(device)
    stepper = step_factory(model, private, settings)
    if settings.distill_weight > 0:
        if not hasattr(stepper, "distill"):
            # The term's weights are counts over all of the site's records: no per-record clipping bounds them.
            raise ValueError("distillation does not combine with record-level DP-SGD: its per-ad weights are "
                             "counts over the whole site's data; set distill_weight 0 or use site-level DP")
        stepper.distill = Distillation(model, item_counts(data), settings.distill_weight)
    if optimizer_state is not None:
        stepper.load_state_dict(optimizer_state)
    rng = np.random.default_rng(settings.seed)
    gen = torch.Generator().manual_seed(settings.seed)
    pool = negative_pool(data, settings.negatives_from)
    group_mass = torch.zeros(model.config.groups, dtype=torch.float64)
    total_loss, total_n, started = 0.0, 0, time.perf_counter()
    n_records = len(epoch_targets(data, settings.max_targets_per_user))
    per_epoch = stepper.num_batches(n_records)
    # The step cap, if any, decides how many epochs start; the last of them may be cut short.
    steps_left = settings.max_steps or settings.epochs * per_epoch
    epochs = min(settings.epochs, -(-steps_left // max(per_epoch, 1)))
    for epoch in range(epochs):
        targets = _epoch_targets(data, settings, rng)
        total = min(per_epoch, steps_left)
        bar = tqdm(islice(stepper.batches(targets, rng), total), total=total,
                   desc=f"{progress} epoch {epoch + 1}/{epochs}", disable=progress is None or not sys.stderr.isatty(), leave=False,
                   unit="batch")
        last_epoch, last_n = epoch == epochs - 1, 0
        for idx in bar:
            loss_sum, gate = stepper.step(*candidate_batch(data, idx, settings.negatives, gen, device, pool))
            total_loss += loss_sum
            total_n += len(idx)
            if last_epoch:
                group_mass += gate.double().sum(0).cpu()
                last_n += len(idx)
        steps_left -= total
        if last_epoch and total < per_epoch and last_n:
            # A cut-short epoch's gate mass, scaled to the whole epoch, so that a site's group weights
            # stay in proportion to its records as its global weight is (site_trainer).
            group_mass *= n_records / last_n
    seconds = time.perf_counter() - started
    return TrainStats(total_n, total_loss / max(total_n, 1), seconds, group_mass.numpy(), stepper.state_dict(),
                      n_records)


@torch.inference_mode()
def score_heads(model: FedAdsModel, private: PrivateUserState | None, seq: np.ndarray, users: np.ndarray,
                cands: np.ndarray, device: torch.device | None = None, batch: int = 256) -> tuple[np.ndarray, ...]:
    """CTR and CVR logits (B, C) of every candidate."""
    device = device or torch.device("cpu")
    model.to(device).eval()
    ctr, cvr = [], []
    for s in range(0, len(seq), batch):
        res = model(torch.from_numpy(seq[s:s + batch]).to(device), torch.from_numpy(cands[s:s + batch]).to(device),
                    torch.from_numpy(users[s:s + batch]).to(device), private)
        ctr.append(res["ctr_logit"].float().cpu().numpy())
        cvr.append(res["cvr_logit"].float().cpu().numpy())
    if not ctr:
        empty = np.zeros((0, cands.shape[1]), dtype=np.float32)
        return empty, empty
    return np.concatenate(ctr), np.concatenate(cvr)


def score_candidates(model: FedAdsModel, private: PrivateUserState | None, seq: np.ndarray, users: np.ndarray,
                     cands: np.ndarray, device: torch.device | None = None, batch: int = 256) -> np.ndarray:
    return score_heads(model, private, seq, users, cands, device, batch)[0]


def evaluate_full_ranking(model: FedAdsModel, private: PrivateUserState | None, data: SequenceData, k: int = 10,
                          device: torch.device | None = None, users_per_batch: int = 32) -> dict:
    """Leave-one-out against the whole catalogue: the held-out item is ranked among every item the user
    has not interacted with before (items already in the user's history are excluded)."""
    users = np.flatnonzero(data.ends - data.starts >= 2)
    targets = data.ends[users] - 1
    seqs = data.histories(targets)
    catalogue = np.arange(1, data.n_items + 1, dtype=np.int64)
    ranks = np.empty(len(users), dtype=np.int64)
    for s in range(0, len(users), users_per_batch):
        b = slice(s, s + users_per_batch)
        cands = np.broadcast_to(catalogue, (len(users[b]), data.n_items))
        scores = score_candidates(model, private, seqs[b], users[b], np.ascontiguousarray(cands), device,
                                  batch=users_per_batch)
        for row, u in enumerate(users[b]):
            target = data.items[targets[s + row]]
            target_score = scores[row, target - 1]
            seen = data.items[data.starts[u]:data.ends[u] - 1]
            scores[row, seen - 1] = -np.inf
            scores[row, target - 1] = target_score
            # 0-based, ties counted against the target, as metrics.positive_rank does
            ranks[s + row] = int(np.sum(scores[row] >= target_score)) - 1
    hit = ranks < k
    return {"num_users": int(len(users)), "full_hr_at_10": float(hit.mean()) if len(users) else 0.0,
            "full_ndcg_at_10": float(np.where(hit, 1.0 / np.log2(ranks + 2), 0.0).mean()) if len(users) else 0.0}


def evaluate(model: FedAdsModel, private: PrivateUserState | None, data: SequenceData, negatives: int = 99,
             seed: int = 0, k: int = 10, device: torch.device | None = None, auc_inputs: bool = False,
             split: str = "test") -> dict:
    """Leave-one-out with sampled negatives: HR@k and NDCG@k over the data's users, CTR AUC (held-out
    item against the sampled negatives) and CVR AUC (held-out items: converted or not) where both
    classes occur, and the ad-team metrics (admodels.ad_eval, `ad_` keys) over the candidate sets, each
    held-out item a click and each sampled negative an unclicked impression. With auc_inputs, also the
    labels and scores, so metrics can be pooled across sites. split: "test" or "validation"."""
    users, seq, cands = data.eval_examples(negatives, seed, split)
    scores, cvr_scores = score_heads(model, private, seq, users, cands, device)
    labels = np.zeros_like(scores)
    labels[:, 0] = 1
    loss = float(F.binary_cross_entropy_with_logits(torch.from_numpy(scores), torch.from_numpy(labels)))
    out = {"num_users": int(len(users)), "hr_at_10": hit_rate_at_k(scores, k), "ndcg_at_10": ndcg_at_k(scores, k),
           "loss": loss}
    converted = data.conversions[data.ends[users] - (2 if split == "validation" else 1)].astype(np.float64)
    inputs = {"ctr_labels": labels.ravel(), "ctr_scores": scores.ravel(), "cvr_labels": converted,
              "cvr_scores": cvr_scores[:, 0].astype(np.float64)}
    for head in ("ctr", "cvr"):
        y = inputs[f"{head}_labels"]
        if 0 < y.sum() < len(y):
            out[f"{head}_auc"] = auc(y, inputs[f"{head}_scores"])
    conversion = np.zeros_like(scores, dtype=np.float64)
    conversion[:, 0] = converted
    impressions = {"users": np.repeat(data.user_keys[users], scores.shape[1]), "click": labels.ravel(),
                   "conversion": conversion.ravel(), "p_ctr": _sigmoid(scores).ravel(),
                   "p_cvr": _sigmoid(cvr_scores).ravel()}
    if len(users):
        out.update({f"ad_{k}": v for k, v in impression_metrics(**impressions).items()})
    if auc_inputs:
        out["auc_inputs"] = inputs | {"impressions": impressions}
    return out


def evaluate_impressions(model: FedAdsModel, private: PrivateUserState | None, data: ImpressionData,
                         split: str = "test", device: torch.device | None = None, auc_inputs: bool = False) -> dict:
    """The ad-team metrics (`ad_` keys) over a time split's impressions; ctr_auc / cvr_auc as the
    leave-one-out evaluation names them (CTR on every impression, CVR on clicked ones)."""
    idx = data.indices(split)
    users = data.user[idx]
    seq = data.histories(idx)
    ctr, cvr = score_heads(model, private, seq, users, data.item[idx][:, None], device)
    ctr, cvr = ctr[:, 0].astype(np.float64), cvr[:, 0].astype(np.float64)
    click, conv = data.click[idx].astype(np.float64), data.conversion[idx].astype(np.float64)
    impressions = {"users": data.user_keys[users], "click": click, "conversion": conv, "p_ctr": _sigmoid(ctr),
                   "p_cvr": _sigmoid(cvr)}
    out = {"num_users": int(len(np.unique(users))), "impressions": int(len(idx)),
           "hr_at_10": float("nan"), "ndcg_at_10": float("nan")}
    if len(idx):
        out["loss"] = float(F.binary_cross_entropy_with_logits(torch.from_numpy(ctr), torch.from_numpy(click)))
        out.update({f"ad_{k}": v for k, v in impression_metrics(**impressions).items()})
        out["ctr_auc"], out["cvr_auc"] = out["ad_auc"], out["ad_cvr_auc"]
    else:
        out["loss"] = float("nan")
    if auc_inputs:
        clicked = click == 1
        out["auc_inputs"] = {"ctr_labels": click, "ctr_scores": ctr, "cvr_labels": conv[clicked],
                             "cvr_scores": cvr[clicked], "impressions": impressions}
    return out


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))

"""The one local training and evaluation path, used centrally, by every site, and in simulation."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from admodels.data.sequences import CONVERSION_RATING, SequenceData
from admodels.layers.multifaceted_ffn import balance_loss
from admodels.metrics import hit_rate_at_k, ndcg_at_k
from admodels.models.fedads_model import FedAdsModel, PrivateUserState


@dataclass
class TrainSettings:
    epochs: int = 1
    lr: float = 1e-3
    batch_size: int = 256
    negatives: int = 4
    prox_mu: float = 0.0
    seed: int = 0
    max_targets_per_user: int = 0  # 0: every training target each epoch
    ctr_weight: float = 1.0
    ctcvr_weight: float = 0.5
    value_weight: float = 0.1
    balance_weight: float = 0.01
    weight_decay: float = 0.0


@dataclass
class TrainStats:
    num_samples: int
    loss: float
    seconds: float
    group_mass: np.ndarray = field(repr=False)

    @property
    def samples_per_s(self) -> float:
        return self.num_samples / self.seconds if self.seconds > 0 else 0.0


def pick_device(requested: str = "auto") -> torch.device:
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def _epoch_targets(data: SequenceData, settings: TrainSettings, rng: np.random.Generator) -> np.ndarray:
    targets = data.train_targets()
    if settings.max_targets_per_user > 0:
        # Keep each user's most recent targets, so heavy users do not dominate an epoch.
        users = data.user_of(targets)
        from_end = data.ends[users] - 1 - targets
        targets = targets[from_end <= settings.max_targets_per_user]
    return rng.permutation(targets)


def train_local(model: FedAdsModel, private: PrivateUserState | None, data: SequenceData,
                settings: TrainSettings, device: torch.device | None = None, progress: str | None = None) -> TrainStats:
    device = device or torch.device("cpu")
    model.to(device).train()
    params = [{"params": list(model.parameters())}]
    if private is not None:
        private.to(device)
        params.append({"params": list(private.parameters())})
    opt = torch.optim.Adam(params, lr=settings.lr, weight_decay=settings.weight_decay)
    anchor = [p.detach().clone() for p in model.parameters()] if settings.prox_mu > 0 else None
    rng = np.random.default_rng(settings.seed)
    gen = torch.Generator().manual_seed(settings.seed)
    group_mass = torch.zeros(model.config.groups, dtype=torch.float64)
    total_loss, total_n, started = 0.0, 0, time.perf_counter()
    for epoch in range(settings.epochs):
        targets = _epoch_targets(data, settings, rng)
        batches = range(0, len(targets), settings.batch_size)
        bar = tqdm(batches, desc=f"{progress} epoch {epoch + 1}/{settings.epochs}", disable=progress is None,
                   leave=False, unit="batch")
        last_epoch = epoch == settings.epochs - 1
        for start in bar:
            idx = targets[start:start + settings.batch_size]
            seq = torch.from_numpy(data.histories(idx)).to(device)
            users = torch.from_numpy(data.user_of(idx)).to(device)
            pos = torch.from_numpy(data.items[idx]).to(device)
            neg = torch.randint(1, data.n_items + 1, (len(idx), settings.negatives), generator=gen).to(device)
            cands = torch.cat([pos.unsqueeze(1), neg], dim=1)
            out = model(seq, cands, users, private)
            click = torch.zeros_like(out["ctr_logit"])
            click[:, 0] = 1.0
            rating = torch.from_numpy(data.ratings[idx]).to(device)
            conv = torch.zeros_like(click)
            conv[:, 0] = (rating >= CONVERSION_RATING).float()
            ctr_loss = F.binary_cross_entropy_with_logits(out["ctr_logit"], click)
            # ESMM: supervise pCTCVR = pCTR·pCVR over the entire candidate space.
            p_ctcvr = (torch.sigmoid(out["ctr_logit"]) * torch.sigmoid(out["cvr_logit"])).clamp(1e-7, 1 - 1e-7)
            ctcvr_loss = F.binary_cross_entropy(p_ctcvr, conv)
            value_loss = F.mse_loss(out["value"][:, 0], rating / 5.0)
            loss = (settings.ctr_weight * ctr_loss + settings.ctcvr_weight * ctcvr_loss
                    + settings.value_weight * value_loss + settings.balance_weight * balance_loss(out["gate"]))
            if anchor is not None:
                prox = sum(((p - a) ** 2).sum() for p, a in zip(model.parameters(), anchor))
                loss = loss + 0.5 * settings.prox_mu * prox
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total_loss += loss.item() * len(idx)
            total_n += len(idx)
            if last_epoch:
                group_mass += out["gate"].detach().double().sum(0).cpu()
    seconds = time.perf_counter() - started
    return TrainStats(total_n, total_loss / max(total_n, 1), seconds, group_mass.numpy())


@torch.inference_mode()
def score_candidates(model: FedAdsModel, private: PrivateUserState | None, seq: np.ndarray, users: np.ndarray,
                     cands: np.ndarray, device: torch.device | None = None, batch: int = 256) -> np.ndarray:
    device = device or torch.device("cpu")
    model.to(device).eval()
    out = []
    for s in range(0, len(seq), batch):
        res = model(torch.from_numpy(seq[s:s + batch]).to(device), torch.from_numpy(cands[s:s + batch]).to(device),
                    torch.from_numpy(users[s:s + batch]).to(device), private)
        out.append(res["ctr_logit"].float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, cands.shape[1]), dtype=np.float32)


def evaluate(model: FedAdsModel, private: PrivateUserState | None, data: SequenceData, negatives: int = 99,
             seed: int = 0, k: int = 10, device: torch.device | None = None) -> dict:
    """Leave-one-out with sampled negatives: HR@k and NDCG@k over the data's users."""
    users, seq, cands = data.eval_examples(negatives, seed)
    scores = score_candidates(model, private, seq, users, cands, device)
    labels = np.zeros_like(scores)
    labels[:, 0] = 1
    loss = float(F.binary_cross_entropy_with_logits(torch.from_numpy(scores), torch.from_numpy(labels)))
    return {"num_users": int(len(users)), "hr_at_10": hit_rate_at_k(scores, k), "ndcg_at_10": ndcg_at_k(scores, k),
            "loss": loss}

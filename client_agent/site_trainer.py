"""Local work of a site: train the received model on site data, pack the shared update, evaluate."""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import partial

import numpy as np
import pyarrow.compute as pc
import torch
from safetensors.numpy import load as st_load

from admodels.data.impressions import ImpressionData
from admodels.data.sequences import SequenceData
from admodels.models.ad_features import model_features
from admodels.models.fedads_model import FedAdsModel, ModelConfig
from admodels.models.user_features import UserFeatureCodes
from admodels.training import (NEGATIVES_FROM, PRIVATE_LR_SCALE, LocalStep, TrainSettings, epoch_targets, evaluate,
                               evaluate_full_ranking, evaluate_impressions, pick_device, train_local)
from client_agent.local_store import LocalStore
from client_agent.site_privacy import SitePrivacy
from privacy.dp.dpsgd import DPSGDStep
from privacy.dp.embedding import perturb_rows
from fedads.catalog.catalog import Catalog, CatalogError
from fedads.eventlog.reader import read_events
from fedads.eventlog.site_data import SiteData
from fedads.runtime.layout import GLOBAL, UpdateLayout


@dataclass
class TrainOutcome:
    vector: np.ndarray
    num_samples: int  # the site's records per epoch: its aggregation weight before any weighting factor
    seconds: float
    loss: float
    weights: dict
    privacy: dict
    interest_score: float = 0.0
    samples_trained: int = 0  # training samples the round's steps read (epochs × records, or the step cap's)


def interest_score(u: np.ndarray, u_bar: np.ndarray, beta: float) -> float:
    """s_i = β·cos(u_i, ū), clipped to [−β, β]; 0 before any mean interest exists."""
    nu, nbar = float(np.linalg.norm(u)), float(np.linalg.norm(u_bar))
    if nu == 0 or nbar == 0:
        return 0.0
    return float(np.clip(beta * float(np.dot(u, u_bar)) / (nu * nbar), -beta, beta))


def aggregation_factor(weighting: str, privacy: SitePrivacy, score: float = 0.0) -> float:
    """The multiplier on a site's sample count (and group masses): combinations multiply (DESIGN §4)."""
    factor = 1.0
    for scheme in filter(None, weighting.split(",")):
        if scheme == "noise":
            if not privacy.enabled:
                raise ValueError("noise weighting needs differential privacy on this site (set dp_clip_norm)")
            factor /= privacy.noise_std ** 2
        elif scheme == "interest":
            if privacy.record_level:
                # u_i is a statistic of the site's records that DP-SGD does not cover.
                raise ValueError("interest weighting releases the site's interest embedding, which record-level "
                                 "DP does not protect; use samples or noise weighting with dp_unit record")
            factor *= float(np.exp(score))
        elif scheme != "samples":
            raise ValueError(f"unknown weighting scheme {scheme!r}")
    return factor


class SiteTrainer:
    """catalogs: where the catalogue a model names comes from (`get(version, sha256)`: the agent's
    SiteCatalogs, or the registry's CatalogStore in simulation)."""

    def __init__(self, site_id: str, data: SiteData, store: LocalStore, device: str = "auto", threads: int = 0,
                 max_targets_per_user: int = 0, eval_negatives: int = 99, eval_seed: int = 0,
                 privacy: SitePrivacy | None = None, embedding_noise: float = 0.0,
                 keep_optimizer_state: bool = False, catalogs=None, validation: bool = False,
                 negatives_from: str = NEGATIVES_FROM):
        self.site_id = site_id
        self.site_data = data
        self.events = read_events(data.events)
        self.catalogs = catalogs
        self.store = store
        self.device = pick_device(device)
        if threads:
            torch.set_num_threads(threads)
        self.max_targets_per_user = max_targets_per_user
        self.negatives_from = negatives_from
        # Hold each user's second-to-last interaction out too, as the split schedules are chosen on.
        self.validation = validation
        self.eval_negatives = eval_negatives
        self.eval_seed = eval_seed
        self._data: SequenceData | None = None
        self._data_key: tuple | None = None
        self._user_codes: UserFeatureCodes | None = None  # the users' feature rows, for the model that reads them
        self._user_codes_key: tuple | None = None
        self.privacy = privacy or SitePrivacy(store.root)
        self.embedding_noise = embedding_noise
        # Resume the local optimiser across rounds. Its moments are statistics of site data and stay on site
        # with the private rows (under DP-SGD they are built from the noised gradients only).
        self.keep_optimizer_state = keep_optimizer_state
        # A stable per-site seed for private parameter initialisation.
        self.private_seed = zlib.crc32(site_id.encode())

    @property
    def num_interactions(self) -> int:
        return self.events.num_rows

    def catalog_for(self, manifest: dict) -> Catalog:
        ref = manifest.get("catalog") or {}
        if not ref.get("version"):
            raise CatalogError(f"model version {manifest.get('version')} names no catalogue; refusing it")
        if self.catalogs is None:
            raise CatalogError("this site has no catalogue source")
        catalog = self.catalogs.get(ref["version"], ref["sha256"])
        if catalog.n_ads != manifest["model_config"]["n_items"]:
            raise CatalogError(f"model version {manifest.get('version')} has {manifest['model_config']['n_items']} ad "
                               f"rows but its catalogue version {catalog.version} holds {catalog.n_ads} ads")
        return catalog

    def data_for(self, config: ModelConfig, catalog: Catalog) -> SequenceData:
        key = (catalog.sha256, config.max_seq_len)
        if self._data is None or self._data_key != key:
            if not self.site_data.interaction_only:
                # Unclicked impressions are there: train on every impression, split by time.
                self._data = ImpressionData.from_events(self.events, catalog, config.max_seq_len)
            else:
                self._data = SequenceData.from_events(self.events, catalog, config.max_seq_len)
            if self.validation and isinstance(self._data, SequenceData):
                self._data = self._data.with_validation()
            self._data_key = key
        return self._data

    def load_private(self, config: ModelConfig, data):
        """The site's private state for these users, with their user-feature codes where the model reads
        user features."""
        key = (tuple(map(str, config.user_features)), data.user_keys.tobytes())
        if config.user_features and self._user_codes_key != key:
            self._user_codes = UserFeatureCodes.build(self.site_data, config.user_features, data.user_keys)
            self._user_codes_key = key
        codes = self._user_codes if config.user_features else None
        return self.store.load_private(config, data.user_keys, self.private_seed, codes)

    @property
    def num_training_records(self) -> int:
        """About the records one epoch trains on (each user's clicked rows less the first and the held-out
        last, capped as epoch_targets caps them), for the coordinator's pre-round noise estimate."""
        clicked = self.events.filter(pc.equal(self.events.column("click"), 1))
        counts = pc.value_counts(clicked.column("user_id")).field("counts").to_numpy(zero_copy_only=False)
        per_user = np.maximum(counts - 2, 0)
        if self.max_targets_per_user > 0:
            per_user = np.minimum(per_user, self.max_targets_per_user + 1)
        return int(per_user.sum())

    @staticmethod
    def build_model(manifest: dict, weights: bytes, catalog: Catalog | None = None) -> FedAdsModel:
        """catalog: the one the manifest names (catalog_for); a model with ad features needs it."""
        config = ModelConfig.from_dict(manifest["model_config"])
        model = FedAdsModel(config, model_features(catalog, config) if catalog is not None else None)
        model.load_shared_state(st_load(weights))  # safetensors: no unpickling of received bytes
        scopes = model.shared_scopes()
        declared = {t["name"]: t["scope"] for t in manifest["tensors"]}
        if scopes != declared:
            raise ValueError("the received model's parameter scopes differ from this agent's model code")
        if model.shared_statistics() != {t["name"] for t in manifest["tensors"] if t.get("statistic")}:
            raise ValueError("the received model's statistics differ from this agent's model code")
        return model

    def site_interest(self, model: FedAdsModel, data: SequenceData) -> np.ndarray:
        """u_i: the mean interest embedding of this site's users' latest behaviour."""
        seq = torch.from_numpy(data.latest_histories()).to(self.device)
        model.to(self.device).eval()
        return model.interest_embedding(seq).cpu().numpy().astype(np.float32)

    def train(self, manifest: dict, weights: bytes, train_cfg, progress: str | None = None) -> TrainOutcome:
        catalog = self.catalog_for(manifest)
        model = self.build_model(manifest, weights, catalog)
        data = self.data_for(model.config, catalog)
        settings = TrainSettings(epochs=train_cfg.epochs, lr=train_cfg.learning_rate, batch_size=train_cfg.batch_size,
                                 negatives=train_cfg.negatives, prox_mu=train_cfg.prox_mu,
                                 seed=train_cfg.seed + self.private_seed,
                                 max_targets_per_user=self.max_targets_per_user,
                                 private_lr_scale=train_cfg.private_lr_scale or PRIVATE_LR_SCALE,
                                 max_steps=train_cfg.local_steps, distill_weight=train_cfg.distill_weight,
                                 negatives_from=self.negatives_from)
        step_factory = LocalStep
        if self.privacy.record_level:
            self.privacy.configure_records(len(epoch_targets(data, settings.max_targets_per_user)),
                                           settings.batch_size, settings.epochs, settings.max_steps)
            step_factory = partial(DPSGDStep, noise_multiplier=self.privacy.noise_multiplier,
                                   clip_norm=self.privacy.clip_norm, sample_rate=self.privacy.sampling_rate)
        epsilon_after = self.privacy.check() if self.privacy.enabled else 0.0  # refuse before training
        u_bar = model.interest.mean.detach().cpu().numpy()
        if self.privacy.record_level:
            # u_i would leave the site unnoised: send ū back as received.
            u, score = u_bar.copy(), 0.0
        else:
            # u_i from the received model, so that it is comparable with the ū published with that model.
            u = self.site_interest(model, data)
            score = interest_score(u, u_bar, train_cfg.interest_beta or 1.0)
        factor = aggregation_factor(train_cfg.weighting or "samples", self.privacy, score)
        private = self.load_private(model.config, data)
        base = model.shared_state()
        opt_state = self.store.load_optimizer_state(data.user_keys) if self.keep_optimizer_state else None
        stats = train_local(model, private, data, settings, self.device, progress=progress, step_factory=step_factory,
                            optimizer_state=opt_state)
        self.store.save_private(private, data.user_keys)
        if self.keep_optimizer_state and stats.optimizer_state is not None:
            self.store.save_optimizer_state(stats.optimizer_state, data.user_keys)
        trained = model.shared_state()
        trained["interest.mean"] = u  # the aggregate of these deltas publishes the (weighted) mean ū
        privacy = {}
        if self.embedding_noise > 0:
            trained["item_emb.weight"], cosine = perturb_rows(trained["item_emb.weight"], self.embedding_noise,
                                                              np.random.default_rng())
            privacy["embedding_cosine"] = cosine
        # Only the shared tensors' deltas leave: the text vectors are buffers of the catalogue, not parameters.
        deltas = {k: trained[k] - base[k] for k in base}
        if self.privacy.enabled:
            deltas = self.privacy.privatise(deltas, np.random.default_rng())
            spent = self.privacy.commit()
            privacy.update(epsilon_spent=spent, epsilon_budget=self.privacy.budget.epsilon_budget,
                           noise_multiplier=self.privacy.noise_multiplier, dp_delta=self.privacy.delta)
            assert abs(spent - epsilon_after) < 1e-6
        # FedAvg weighs a site by its records; a step cap makes every site read about the same number.
        per_epoch = stats.records_per_epoch if settings.max_steps else stats.num_samples // max(settings.epochs, 1)
        weights_by_scope = {GLOBAL: float(per_epoch) * factor}
        for k, mass in enumerate(stats.group_mass):
            weights_by_scope[f"group:{k}"] = float(mass) * factor
        layout = UpdateLayout.from_manifest(manifest)
        vector = layout.pack(deltas, weights_by_scope)
        return TrainOutcome(vector, per_epoch, stats.seconds, stats.loss, weights_by_scope, privacy, score,
                            stats.num_samples)

    def _evaluate(self, model, private, data, auc_inputs: bool, split: str) -> dict:
        """Leave-one-out with sampled negatives for interaction-only data; the time split's impressions otherwise."""
        if isinstance(data, ImpressionData):
            return evaluate_impressions(model, private, data, split, self.device, auc_inputs)
        return evaluate(model, private, data, negatives=self.eval_negatives, seed=self.eval_seed, device=self.device,
                        auc_inputs=auc_inputs, split=split)

    def evaluate(self, manifest: dict, weights: bytes, tune_cfg=None, full_ranking: bool = False,
                 auc_inputs: bool = False, split: str = "test") -> dict:
        """Metrics of the new global model with this site's private parameters; with tune_cfg.epochs,
        also after personalisation (fine-tuning a copy on site data, kept on site for serving);
        with full_ranking, also HR/NDCG@10 against the whole catalogue."""
        catalog = self.catalog_for(manifest)
        model = self.build_model(manifest, weights, catalog)
        data = self.data_for(model.config, catalog)
        private = self.load_private(model.config, data)
        out = self._evaluate(model, private, data, auc_inputs, split)
        if full_ranking and isinstance(data, SequenceData):
            full = evaluate_full_ranking(model, private, data, device=self.device)
            out.update(full_hr_at_10=full["full_hr_at_10"], full_ndcg_at_10=full["full_ndcg_at_10"])
        if tune_cfg is not None and tune_cfg.epochs > 0:
            settings = TrainSettings(epochs=tune_cfg.epochs, lr=tune_cfg.learning_rate or 1e-3,
                                     batch_size=tune_cfg.batch_size or 256, negatives=tune_cfg.negatives or 4,
                                     seed=tune_cfg.seed + self.private_seed + 1,
                                     max_targets_per_user=self.max_targets_per_user,
                                     private_lr_scale=tune_cfg.private_lr_scale or PRIVATE_LR_SCALE,
                                     negatives_from=self.negatives_from)
            train_local(model, private, data, settings, self.device)
            self.store.save_personalised(model.shared_state(), manifest["version"])
            tuned = self._evaluate(model, private, data, auc_inputs, split)
            if auc_inputs:
                out["personalised_auc_inputs"] = tuned.pop("auc_inputs")
            out.update(personalised_num_users=tuned["num_users"], personalised_hr_at_10=tuned["hr_at_10"],
                       personalised_ndcg_at_10=tuned["ndcg_at_10"])
        return out

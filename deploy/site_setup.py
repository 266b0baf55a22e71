"""Turning a real dataset into K partner sites on disk: the shared catalogue, and per site its event log,
data manifest and site.toml (through the same converters as `fedads-data convert`)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from fedads.datasets.converted import write_federation
from fedads.datasets.registry import convert


@dataclass
class SiteSpec:
    site_id: str
    folder: Path
    config_path: Path
    users: int
    interactions: int

    @property
    def data(self) -> Path:
        return self.folder / "data"


def site_toml(site_id: str, coordinator: str, threads: int, max_targets_per_user: int, seed: int,
              enroll_address: str = "") -> str:
    return (f'site_id = "{site_id}"\ncoordinator = "{coordinator}"\ndata = "data"\n'
            f'state_dir = "state"\nenrollment_token_file = "enrollment.token"\ndevice = "auto"\n'
            f"threads = {threads}\nmax_targets_per_user = {max_targets_per_user}\neval_negatives = 99\n"
            f"eval_seed = {seed}\n"
            + (f'ca_file = "ca.crt"\nenroll_address = "{enroll_address}"\n' if enroll_address else "insecure = true\n"))


def prepare_federation(dataset: str, n_sites: int, workdir: Path, coordinator: str, max_users: int = 0,
                       seed: int = 0, max_seq_len: int = 50, threads: int = 1, max_targets_per_user: int = 0,
                       partition_key: str = "zip_region", model_overrides: dict | None = None,
                       enroll_address: str = "", user_features: bool = False,
                       encoder=None) -> tuple[list[SiteSpec], dict]:
    """workdir/catalog, workdir/sites/<site>/{data/, site.toml} and workdir/model_config.json (no sizes:
    those come from the catalogue). With `enroll_address` the sites speak mTLS, enrolling there with the CA
    certificate in their folder's ca.crt; without it they are configured insecure. A model config with
    use_semantics embeds the ads' text with the packaged sentence encoder (or `encoder`). Returns the sites
    and the full model config (sizes included) for in-process use."""
    if encoder is None and (model_overrides or {}).get("use_semantics"):
        from fedads.catalog.text_encoder import SentenceEncoder

        encoder = SentenceEncoder()
    catalog, parts = write_federation(convert(dataset), workdir, n_sites, partition_key, seed, max_users,
                                      encoder=encoder)
    specs = []
    for p in parts:
        config = p.folder / "site.toml"
        config.write_text(site_toml(p.site_id, coordinator, threads, max_targets_per_user, seed, enroll_address))
        specs.append(SiteSpec(p.site_id, p.folder, config, p.users, p.rows))
    from admodels.models.ad_features import initial_config

    shared = {"max_seq_len": max_seq_len, **(model_overrides or {})}
    if user_features:
        # Every column the converter declared: its public ones as shared tables, the others private per site.
        from admodels.models.user_features import declared_user_features
        from fedads.eventlog.site_data import SiteData

        shared["user_features"] = declared_user_features(SiteData.load(parts[0].folder / "data"))
    (workdir / "model_config.json").write_text(json.dumps(shared))
    return specs, initial_config(shared, catalog)


def local_registry(workdir: Path, model_config: dict, seed: int = 0):
    """A registry in workdir/registry holding the federation's catalogue and a first model built on it
    (in-process runs: simulation, benches, tests). Returns (registry, catalogue store)."""
    from admodels.models.ad_features import model_features
    from admodels.models.fedads_model import ModelConfig, build_model
    from fedads.runtime.catalog_store import CatalogStore
    from fedads.runtime.registry import ModelRegistry

    registry = ModelRegistry(workdir / "registry")
    catalogs = CatalogStore(registry.root)
    catalog, _ = catalogs.import_catalog(workdir / "catalog")
    if not registry.versions():
        config = ModelConfig.from_dict(model_config)
        model = build_model(config, seed=seed, ad_features=model_features(catalog, config))
        registry.publish(**model.publication(), parent_version=0, round_id=0, catalog=catalog.ref())
    return registry, catalogs


def local_trainer(spec: SiteSpec, catalogs, *args, **kwargs):
    """The SiteTrainer of one prepared site, reading its data manifest, with the given catalogue source."""
    from client_agent.local_store import LocalStore
    from client_agent.site_trainer import SiteTrainer
    from fedads.eventlog.site_data import SiteData

    return SiteTrainer(spec.site_id, SiteData.load(spec.data), LocalStore(spec.folder / "state"), *args,
                       catalogs=catalogs, **kwargs)

"""Turning a real dataset into K partner sites on disk: one interaction file and one site.toml each."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from admodels.data.datasets import load_interactions
from admodels.data.partition import by_natural_key, dirichlet, one_user_per_site
from admodels.data.site_files import write_site_file


def partition_users(data, n_sites: int, partition: str, seed: int) -> list[np.ndarray]:
    """`zip_region` / `occupation` (natural keys), `dirichlet:<alpha>` over occupation, or `user` (one per site)."""
    if partition in ("zip_region", "occupation"):
        return by_natural_key(data.user_ids, getattr(data, partition), n_sites)
    if partition.startswith("dirichlet:"):
        parts = dirichlet(data.user_ids, data.occupation, n_sites, float(partition.split(":", 1)[1]), seed)
        return [p for p in parts if len(p)]
    if partition == "user":
        return one_user_per_site(data.user_ids)
    raise ValueError(f"unknown partition {partition!r}: zip_region, occupation, dirichlet:<alpha> or user")


@dataclass
class SiteSpec:
    site_id: str
    folder: Path
    config_path: Path
    users: int
    interactions: int


def prepare_federation(dataset: str, n_sites: int, workdir: Path, coordinator: str, max_users: int = 0,
                       seed: int = 0, max_seq_len: int = 50, threads: int = 1, max_targets_per_user: int = 0,
                       partition_key: str = "zip_region", model_overrides: dict | None = None,
                       enroll_address: str = "") -> tuple[list[SiteSpec], dict]:
    """Write each site's data file and site.toml. With `enroll_address` the sites speak mTLS, enrolling
    there with the CA certificate in their folder's ca.crt; without it they are configured insecure."""
    data = load_interactions(dataset)
    users = np.unique(data.user)
    if max_users and max_users < len(users):
        users = np.sort(np.random.default_rng(seed).choice(users, max_users, replace=False))
        data = data.subset_users(users)
    # The shared catalogue: item ids 1..n_items, known to every site and to the global model.
    catalogue, item_idx = np.unique(data.item, return_inverse=True)
    item_idx = item_idx + 1
    groups = partition_users(data, n_sites, partition_key, seed)
    specs = []
    for k, site_users in enumerate(groups):
        site_id = f"site-{k + 1:02d}"
        folder = workdir / "sites" / site_id
        rows = np.isin(data.user, site_users)
        write_site_file(folder / "interactions.csv", data.user[rows], item_idx[rows], data.timestamp[rows],
                        data.rating[rows])
        config = folder / "site.toml"
        config.write_text(
            f'site_id = "{site_id}"\ncoordinator = "{coordinator}"\ndata_file = "interactions.csv"\n'
            f'state_dir = "state"\nenrollment_token_file = "enrollment.token"\ndevice = "auto"\n'
            f"threads = {threads}\nmax_targets_per_user = {max_targets_per_user}\neval_negatives = 99\n"
            f"eval_seed = {seed}\n"
            + (f'ca_file = "ca.crt"\nenroll_address = "{enroll_address}"\n' if enroll_address else "insecure = true\n"))
        specs.append(SiteSpec(site_id, folder, config, len(site_users), int(rows.sum())))
    model_config = {"n_items": int(len(catalogue)), "max_seq_len": max_seq_len, **(model_overrides or {})}
    (workdir / "model_config.json").write_text(json.dumps(model_config))
    (workdir / "catalogue.json").write_text(json.dumps([int(x) for x in catalogue]))
    return specs, model_config

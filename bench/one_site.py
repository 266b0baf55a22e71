"""One site's records of a zip-region split, as the DP benchmarks (bench/dp_grad_norms, bench/dp_step,
bench/dp_one_site) read them."""
from __future__ import annotations

import argparse
import tempfile
from contextlib import contextmanager
from pathlib import Path

from admodels.models.fedads_model import ModelConfig
from deploy.site_setup import local_registry, local_trainer, prepare_federation


def add_site_arguments(ap: argparse.ArgumentParser, site_help: str) -> None:
    ap.add_argument("--dataset", default="ml-100k", choices=["ml-100k", "ml-1m"])
    ap.add_argument("--sites", type=int, default=8, help="split by zip region into this many sites")
    ap.add_argument("--site", type=int, default=0, help=site_help)


@contextmanager
def one_site(args: argparse.Namespace):
    """(site id, model config, SiteTrainer, SequenceData) of site `args.site`, on files that last as long as
    the `with` block."""
    with tempfile.TemporaryDirectory() as tmp:
        specs, model_config = prepare_federation(args.dataset, args.sites, Path(tmp), "in-process",
                                                 partition_key="zip_region")
        config = ModelConfig.from_dict(model_config)
        spec = specs[args.site]
        _, catalogs = local_registry(Path(tmp), model_config)
        trainer = local_trainer(spec, catalogs)
        yield spec.site_id, config, trainer, trainer.data_for(config, catalogs.get())

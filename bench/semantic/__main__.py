"""bench/semantic: SF-UBM's semantic stage on MovieLens-100K, 8 zip-region sites, federated on the CPU.

(a) cold-start ads (bench/semantic/splits.py: 10 % of the ads never trained on anywhere): HR@10, NDCG@10
    and Hit@1 of ID-only, ID + features, ID + features + semantics and + distillation, on cold and warm items;
(b) two genre domains (drama at sites 01-06, comedy at sites 07-08, the data-scarce one): comedy alone
    (single-domain federation) against both domains federated together;
(c) the item-embedding perturbation (embedding_noise) at σ 0.05 and 0.1: cosine original↔perturbed and
    the accuracy it costs, beside the absolute-noise cosine SF-UBM reports.
Every ranking is leave-one-out with 99 seeded negatives (the domain table draws them from the domain's ads).
Writes reports/semantic.md, .json and .png.
Run: `OMP_NUM_THREADS=1 python -m bench.semantic` (the text vectors are embedded once into --workdir).
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

from bench.semantic.federate import RunSpec, federate, metrics, ranks
from bench.semantic.report import write_report
from bench.semantic.splits import COMEDY_SITES, cold_ads, genre_domains, make_cold, make_domains
from fedads.catalog.catalog import Catalog
from simulation.runner import SimConfig

FEATURES = {"id_dropout": 0.2}
SEMANTICS = {"use_semantics": True, "id_dropout": 0.2}


def base_federation(workdir: Path, seed: int) -> Path:
    """ML-100K as 8 zip-region sites with the ads' titles and genres embedded (once; reused after)."""
    base = workdir / "base"
    if (base / "catalog" / "manifest.json").exists():
        return base
    from fedads.catalog.text_encoder import SentenceEncoder
    from fedads.datasets.converted import write_federation
    from fedads.datasets.registry import convert

    shutil.rmtree(base, ignore_errors=True)
    write_federation(convert("ml-100k"), base, 8, "zip_region", seed, encoder=SentenceEncoder())
    return base


def derive(base: Path, target: Path, make) -> dict:
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(base, target)
    return make(target)


def evaluate_cold(trainers, manifest, weights, cold: np.ndarray) -> dict:
    c = [ranks(t, manifest, weights, "test", None, only_targets=cold)[0] for t in trainers]
    new = [ranks(t, manifest, weights, "test", None, only_targets=cold, fresh_rows=cold)[0] for t in trainers]
    w = [ranks(t, manifest, weights, "validation", None)[0] for t in trainers]
    return {"cold": metrics(np.concatenate(c)), "new_ad": metrics(np.concatenate(new)),
            "warm": metrics(np.concatenate(w))}


def evaluate_domains(trainers, manifest, weights, domains: dict) -> dict:
    out = {}
    for name in ("comedy", "drama"):
        chosen = [t for t in trainers if (t.site_id in COMEDY_SITES) == (name == "comedy")]
        if chosen:
            out[name] = metrics(np.concatenate([ranks(t, manifest, weights, "test", domains[name])[0]
                                                for t in chosen]))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--final-lr", type=float, default=0.001)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--max-targets-per-user", type=int, default=20)
    ap.add_argument("--distill-weight", default="1.0,0.1", help="λ of the distillation rows, comma-separated")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--parts", default="cold,domains,privacy",
                    help="cold (all four cold-start rows), distill (its distillation rows only), domains, privacy, "
                         "site-negatives (semantics, distillation and both domain runs with negatives_from = site)")
    ap.add_argument("--append", action="store_true", help="add these runs to the saved reports/semantic.json")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/fedads-bench-semantic"))
    ap.add_argument("--out", type=Path, default=Path("reports"))
    ap.add_argument("--from-json", type=Path, default=None, help="rewrite the report from a saved JSON")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    if args.from_json:
        results = json.loads(args.from_json.read_text())
        if "text_noise" not in results:  # a run stopped before its end: the cosines need only the catalogue
            results["text_noise"] = text_noise_cosines(Catalog.load(args.workdir / "base" / "catalog").semantic[1:])
        write_report(results, args.out)
        return 0
    cfg = SimConfig(rounds=args.rounds, lr=args.lr, final_lr=args.final_lr, batch_size=args.batch_size,
                    max_targets_per_user=args.max_targets_per_user, private_lr_scale=0.1, seed=args.seed)
    results = {"settings": {k: v for k, v in vars(args).items() if k not in ("workdir", "out", "from_json")},
               "runs": []}
    json_path = args.out / "semantic.json"
    args.out.mkdir(parents=True, exist_ok=True)
    base = base_federation(args.workdir, args.seed)
    catalog = Catalog.load(base / "catalog")
    parts = set(args.parts.split(","))
    jobs = []  # (table, spec, template): cold, then the domains, then the noise runs
    cold = cold_ads(catalog, args.seed)
    if args.append and json_path.exists():
        results["runs"] = json.loads(json_path.read_text())["runs"]
        results.update({k: v for k, v in json.loads(json_path.read_text()).items() if k not in ("runs", "settings")})
    distill = [RunSpec(f"+ distillation λ={w:g}", SEMANTICS, distill_weight=w)
               for w in map(float, args.distill_weight.split(","))]
    if parts & {"cold", "privacy", "distill", "site-negatives"}:
        results["cold_split"] = derive(base, args.workdir / "cold", lambda d: make_cold(d, catalog, args.seed))
    if "cold" in parts:
        jobs += [("cold", s, "cold") for s in (
            RunSpec("ID only", {"use_features": False}), RunSpec("ID + features", FEATURES),
            RunSpec("ID + features + semantics", SEMANTICS), *distill)]
    elif "distill" in parts:
        jobs += [("cold", s, "cold") for s in distill]
    if "site-negatives" in parts:
        site = dict(negatives_from="site")
        results["domain_split"] = derive(base, args.workdir / "domains", lambda d: make_domains(d, catalog))
        jobs += [("domains", RunSpec("comedy alone, site negatives", SEMANTICS, sites=COMEDY_SITES, **site), "domains"),
                 ("domains", RunSpec("drama + comedy, site negatives", SEMANTICS, **site), "domains"),
                 ("cold", RunSpec("semantics, site negatives", SEMANTICS, **site), "cold"),
                 ("cold", RunSpec("+ distillation λ=1, site negatives", SEMANTICS, distill_weight=1.0, **site), "cold")]
    if "domains" in parts:
        results["domain_split"] = derive(base, args.workdir / "domains", lambda d: make_domains(d, catalog))
        jobs += [("domains", RunSpec("comedy alone (single-domain)", SEMANTICS, sites=COMEDY_SITES), "domains"),
                 ("domains", RunSpec("drama + comedy (cross-domain)", SEMANTICS), "domains")]
    if "privacy" in parts:
        jobs += [("cold", RunSpec(f"semantics, embedding_noise {s}", SEMANTICS, embedding_noise=s), "cold")
                 for s in (0.1, 0.05)]
    domains = genre_domains(catalog)
    for table, spec, template in jobs:
        started = time.perf_counter()
        trainers, manifest, weights = federate(args.workdir / template, args.workdir / "run", spec, cfg)
        record = {"table": table, "name": spec.name, "model": spec.model, "distill_weight": spec.distill_weight,
                  "negatives_from": spec.negatives_from,
                  "embedding_noise": spec.embedding_noise, "embedding_cosine": manifest["bench_embedding_cosine"],
                  "sites": list(spec.sites) or "all"}
        if table == "cold":
            record.update(evaluate_cold(trainers, manifest, weights, cold))
        else:
            record.update(evaluate_domains(trainers, manifest, weights, domains))
        record["seconds"] = time.perf_counter() - started
        results["runs"].append(record)
        print(json.dumps(record), file=sys.stderr)
        json_path.write_text(json.dumps(results, indent=1))
    results["text_noise"] = text_noise_cosines(catalog.semantic[1:])
    json_path.write_text(json.dumps(results, indent=1))
    write_report(results, args.out)
    return 0


def text_noise_cosines(vectors: np.ndarray) -> dict:
    """Cosine of unit text vectors and the same with absolute N(0, σ²) noise per coordinate (SF-UBM's
    reading of σ), beside perturb_rows' relative noise (σ × the row's norm in all)."""
    from privacy.dp.embedding import perturb_rows

    rng = np.random.default_rng(0)
    out = {}
    for s in (0.05, 0.1):
        noisy = vectors + rng.normal(size=vectors.shape) * s
        cos = (vectors * noisy).sum(1) / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(noisy, axis=1))
        out[str(s)] = {"absolute": float(cos.mean()), "relative": perturb_rows(vectors, s, rng)[1]}
    return out


if __name__ == "__main__":
    raise SystemExit(main())

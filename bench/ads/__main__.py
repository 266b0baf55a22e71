"""bench/ads: centralized, federated and federated + personalised runs of the feature model on one split,
beside an id-only federated run, a popularity and a logistic-regression baseline, judged with the
ad-team metrics (admodels.ad_eval). Rounds are chosen on the validation split (each user's second-to-last
item); the test split (the last item) is only reported.

Run: `PYTHONPATH=. OMP_NUM_THREADS=1 .venv/bin/python -m bench.ads --dataset taobao-userbehavior`
Writes reports/ads_<dataset>.md, .json and .png.
"""
from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import torch

from bench.ads.baselines import logistic_regression, popularity, site_splits
from simulation.runner import SimConfig, run

KEYS = ("hr_at_10", "ndcg_at_10", "ad_auc", "ad_gauc", "ad_logloss", "ad_calibration", "ad_calibration_corrected",
        "ad_ece_corrected", "ad_cvr_auc", "ad_ctcvr_auc")
HEAD = ("HR@10", "NDCG@10", "CTR AUC", "gAUC", "LogLoss", "calib. (raw)", "calib. (prior-corr.)", "ECE (corr.)",
        "CVR AUC", "CTCVR AUC")


def _run(name: str, cfg: SimConfig, work: Path) -> dict:
    started = time.process_time()
    history = run(cfg, work / name, progress=False)
    best = max(history, key=lambda r: r.get("val_ad_auc", -1.0))
    return {"name": name, "config": {k: getattr(cfg, k) for k in ("sites", "rounds", "epochs", "lr", "server_lr", "model",
                                                                  "negatives", "personalise_epochs",
                                                                  "max_targets_per_user", "user_features")},
            "history": history, "best_round": best["round"], "test": {k: best.get(k) for k in KEYS},
            "last": history[-1], "cpu_s": time.process_time() - started}


def _fmt(x) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.4f}"


def write_report(dataset: str, results: list[dict], baselines: dict, out: Path, notes: list[str]) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines = [f"# Ad metrics on {dataset}", "", *notes, "",
             "| model | round (chosen on validation) | " + " | ".join(HEAD) + " |",
             "|---|---|" + "---|" * len(HEAD)]
    for r in results:
        lines.append(f"| {r['name']} | {r['best_round']} of {r['config']['rounds']} | "
                     + " | ".join(_fmt(r["test"][k]) for k in KEYS) + " |")
        if r["config"]["personalise_epochs"]:
            last = r["last"]
            lines.append(f"| {r['name']} + personalised ({r['config']['personalise_epochs']} epoch at each site) | "
                         f"{last['round']} (last) | "
                         + " | ".join(_fmt(last.get(f"personalised_{k}")) for k in KEYS) + " |")
    for name, m in baselines.items():
        lines.append(f"| {name} | – | " + " | ".join(_fmt(m.get(k)) for k in KEYS) + " |")
    lines += ["", f"![validation and test CTR AUC by round](ads_{dataset}.png)", ""]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    out.with_suffix(".json").write_text(json.dumps({"results": results, "baselines": baselines}, indent=1,
                                                   default=str))
    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    for r in results:
        rounds = [h["round"] for h in r["history"]]
        ax[0].plot(rounds, [h.get("val_ad_auc") for h in r["history"]], marker="o", label=r["name"])
        ax[1].plot(rounds, [h.get("ad_auc") for h in r["history"]], marker="o", label=r["name"])
    for name, m in baselines.items():
        for a in ax:
            a.axhline(m["ad_auc"], ls="--", lw=1, color="gray")
            a.text(1, m["ad_auc"], name, fontsize=7, va="bottom")
    for a, t in zip(ax, ("validation CTR AUC", "test CTR AUC")):
        a.set_xlabel("round")
        a.set_title(t)
        a.axhline(0.5, color="red", lw=0.5)
    ax[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out.with_suffix(".png"), dpi=110)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="taobao-userbehavior")
    ap.add_argument("--partition", default="occupation")
    ap.add_argument("--sites", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--epochs", type=int, default=1, help="local epochs per round (every run)")
    ap.add_argument("--server-lr", type=float, default=1.0, help="global step η of the federated runs")
    ap.add_argument("--user-features", action="store_true",
                    help="the model reads the sites' declared user features (MovieLens demographics)")
    ap.add_argument("--runs", default="centralized,federated,federated-id-only")
    ap.add_argument("--model", default="{}", help="ModelConfig overrides as JSON")
    ap.add_argument("--out", default="reports")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    model = json.loads(args.model)
    base = dict(dataset=args.dataset, partition=args.partition, rounds=args.rounds, lr=args.lr, validation=True,
                max_targets_per_user=30, epochs=args.epochs, user_features=args.user_features)
    variants = {"centralized": SimConfig(**base, sites=1, model=model),
                "federated": SimConfig(**base, sites=args.sites, model=model, personalise_epochs=1,
                                       server_lr=args.server_lr),
                "federated-id-only": SimConfig(**base, sites=args.sites, model={**model, "use_features": False},
                                               server_lr=args.server_lr)}
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.runs.split(","):
            results.append(_run(name, variants[name], Path(tmp)))
            print(name, results[-1]["best_round"], {k: _fmt(v) for k, v in results[-1]["test"].items()},
                  f"{results[-1]['cpu_s']:.0f} CPU s", flush=True)
    catalog, datas = site_splits(args.dataset, args.sites, args.partition, 0)
    baselines = {"popularity (all sites' counts)": popularity(datas, catalog.n_ads, 0, "test")}
    if "category" in [f.name for f in catalog.schema.features]:  # the LR reads the ad's category
        baselines["logistic regression (centralized; category + history-category share)"] = \
            logistic_regression(datas, catalog, 0, "test")
    for name, m in baselines.items():
        print(name, {k: _fmt(m.get(k)) for k in KEYS}, flush=True)
    notes = [f"Split: leave-one-out (interaction-only data, sampled negatives in training: "
             f"{base['max_targets_per_user']} targets per user per epoch, 4 negatives each); test = each user's last item against 99 seeded "
             "negatives, validation = the second-to-last item against its own 99; the round of each run is the one "
             f"with the best pooled validation CTR AUC. {args.sites} sites by {args.partition}, {args.rounds} rounds "
             f"of {args.epochs} local epoch(s), lr {args.lr}, server step {args.server_lr}, model overrides {model}"
             f"{', user features' if args.user_features else ''}.",
             "Calibration: raw is Σ pCTR / Σ clicks over the 1 : 99 candidate sets; the model trains at 1 : 4, so "
             "the prior-corrected column reads pCTR at 1 : 99 (odds × 4/99; admodels.ad_eval.prior_corrected)."]
    out = Path(args.out) / f"ads_{args.dataset}"
    write_report(args.dataset, results, baselines, out, notes)
    print(f"wrote {out}.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""reports/semantic.md and reports/semantic.png from bench/semantic's results."""
from __future__ import annotations

from pathlib import Path


def _row(name: str, m: dict) -> str:
    return f"| {name} | {m['users']} | {m['hr_at_10']:.3f} | {m['ndcg_at_10']:.3f} | {m['hit_at_1']:.3f} |"


def _name(r: dict) -> str:
    w = r.get("distill_weight")
    return r["name"] + (f" λ={w:g}" if w and "λ" not in r["name"] else "")


def write_report(results: dict, out: Path) -> None:
    s = results["settings"]
    lines = ["# SF-UBM semantic stage on MovieLens-100K (8 zip-region sites, federated)", "",
             f"Settings: {s['rounds']} rounds of one local epoch, lr {s['lr']}→{s['final_lr']} (cosine), batch "
             f"{s['batch_size']}, at most {s['max_targets_per_user']} targets per user, private rate ×0.1, "
             f"seed {s['seed']}; each user's last two items held out (holdout 2). Leave-one-out, 99 seeded "
             "negatives. Text vectors: all-MiniLM-L6-v2 over each movie's title and genres.", ""]
    cold = [r for r in results["runs"] if r["table"] == "cold"]
    if cold:
        split = results.get("cold_split", {})
        lines += ["## (a) Cold-start ads", "",
                  f"{split.get('cold_ads')} ads (a seeded 10 %) are cold: no site trains on them "
                  f"({split.get('rows_removed')} rows removed). Cold: users whose last item is a cold ad "
                  "(negatives from every ad). \"cold\": the cold ads as they are in the trained model, catalogue ads "
                  "that no site clicked but every site sampled as training negatives; \"new ad\": the same users "
                  "and candidates with the cold ads' id rows set to the initialisation catalogue growth gives an "
                  "appended ad (a creative added after training). Warm: every user's second-to-last item (a warm "
                  "ad). Random ranking gives HR@10 0.100 and Hit@1 0.010.", "",
                  "| model | cold users | cold HR@10 | cold NDCG@10 | cold Hit@1 | new-ad HR@10 | new-ad Hit@1 "
                  "| warm HR@10 | warm NDCG@10 | warm Hit@1 | cosine after noise |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in cold:
            c, w = r["cold"], r["warm"]
            n = r.get("new_ad") or {"hr_at_10": float("nan"), "hit_at_1": float("nan")}
            cos = f"{r['embedding_cosine']:.4f}" if r.get("embedding_cosine") else "-"
            lines.append(f"| {_name(r)} | {c['users']} | {c['hr_at_10']:.3f} | {c['ndcg_at_10']:.3f} | "
                         f"{c['hit_at_1']:.3f} | {n['hr_at_10']:.3f} | {n['hit_at_1']:.3f} | {w['hr_at_10']:.3f} | "
                         f"{w['ndcg_at_10']:.3f} | {w['hit_at_1']:.3f} | {cos} |")
        base = next((r for r in cold if r["name"] == "ID only"), None)
        if base and base["cold"]["hr_at_10"] > 0:
            best = max(cold, key=lambda r: r["cold"]["hr_at_10"])
            lines += ["", f"Best cold HR@10: {_name(best)}, {best['cold']['hr_at_10'] / base['cold']['hr_at_10']:.1f}× "
                          "the ID-only model's."]
    noise = results.get("text_noise")
    if noise:
        lines += ["", "## (c) Perturbation cosine", "",
                  "| σ | text vectors, absolute N(0, σ²) per coordinate (SF-UBM's reading) | text vectors, perturb_rows "
                  "(relative) | SF-UBM reported |", "|---|---|---|---|"]
        for sigma, v in noise.items():
            lines.append(f"| {sigma} | {v['absolute']:.3f} | {v['relative']:.4f} | 0.54-0.70 (σ 0.05-0.1) |")
    dom = [r for r in results["runs"] if r["table"] == "domains"]
    if dom:
        split = results.get("domain_split", {})
        lines += ["", "## (b) Two genre domains", "",
                  f"Drama (Drama, not Comedy: {split.get('domains', {}).get('drama')} movies) at sites 01-06; comedy "
                  f"(Comedy, not Drama: {split.get('domains', {}).get('comedy')} movies) at sites 07-08, the data-scarce "
                  "domain. Movies with both or neither genre are dropped. Test: each user's last item, negatives "
                  "from the user's own domain.", "",
                  "| run | comedy users | comedy HR@10 | comedy NDCG@10 | comedy Hit@1 | drama HR@10 | drama Hit@1 |",
                  "|---|---|---|---|---|---|---|"]
        for r in dom:
            c, d = r.get("comedy"), r.get("drama")
            dr = f"{d['hr_at_10']:.3f} | {d['hit_at_1']:.3f}" if d else "- | -"
            lines.append(f"| {r['name']} | {c['users']} | {c['hr_at_10']:.3f} | {c['ndcg_at_10']:.3f} | "
                         f"{c['hit_at_1']:.3f} | {dr} |")
    lines += ["", "![cold and warm HR@10 and Hit@1; comedy single vs cross-domain](semantic.png)", ""]
    out.mkdir(parents=True, exist_ok=True)
    (out / "semantic.md").write_text("\n".join(lines))
    _plot(cold, dom, out / "semantic.png")


def _plot(cold: list, dom: list, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    if cold:
        names = [_name(r) for r in cold]
        x = range(len(names))
        for i, (key, split) in enumerate((("hr_at_10", "cold"), ("hr_at_10", "new_ad"), ("hit_at_1", "cold"),
                                          ("hr_at_10", "warm"))):
            axes[0].bar([j + (i - 1.5) * 0.2 for j in x], [r.get(split, {}).get(key, 0.0) for r in cold], 0.2,
                        label=f"{split} {key.replace('_at_', '@').replace('hr', 'HR').replace('hit', 'Hit')}")
        axes[0].set_xticks(list(x), names, rotation=25, ha="right", fontsize=7)
        axes[0].set_title("(a) cold-start ads and warm items")
        axes[0].legend(fontsize=7)
    if dom:
        names = [r["name"] for r in dom]
        x = range(len(names))
        axes[1].bar([j - 0.2 for j in x], [r["comedy"]["hr_at_10"] for r in dom], 0.4, label="comedy HR@10")
        axes[1].bar([j + 0.2 for j in x], [r["comedy"]["hit_at_1"] for r in dom], 0.4, label="comedy Hit@1")
        axes[1].set_xticks(list(x), names, rotation=25, ha="right", fontsize=7)
        axes[1].set_title("(b) data-scarce domain: single vs cross-domain")
        axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)

"""bench/privacy --from-json: sweeps run in parallel merge into one set of results, each point once, ε in
order, a rerun replacing the earlier run (checked on the merged data, not on the report's text)."""
import json

from bench.privacy import main


def _run(eps, hr, rounds=2):
    return {"epsilon": eps, "history": [{"round": r + 1, "hr_at_10": hr * (r + 1) / rounds, "ndcg_at_10": hr / 2}
                                        for r in range(rounds)]}


def _merged(out, name):
    return json.loads((out / f"{name}.json").read_text())


def test_parallel_sweeps_merge_into_one_result(tmp_path):
    settings = {"dataset": "ml-100k", "sites": 8, "rounds": 2, "max_targets_per_user": 0, "unit": "record",
                "clip": 1.0, "batch_size": 1024, "lr": 0.01, "final_lr": 0.0005, "private_lr_scale": 0.1}
    first = {"settings": settings, "epsilon": [_run(8.0, 0.3), _run(float("inf"), 0.4)], "alpha": [], "weighting": []}
    # An older file: no final_lr / private_lr_scale, and a rerun of ε = 8 that must replace the first.
    old = {k: v for k, v in settings.items() if k not in ("final_lr", "private_lr_scale")}
    second = {"settings": old, "epsilon": [_run(2.0, 0.2), _run(8.0, 0.36)], "alpha": [], "weighting": []}
    paths = []
    for i, data in enumerate((first, second)):
        paths.append(tmp_path / f"{i}.json")
        paths[-1].write_text(json.dumps(data))
    out = tmp_path / "out"
    assert main(["--from-json", *map(str, paths), "--out", str(out), "--name", "merged"]) == 0
    merged = _merged(out, "merged")
    assert [r["epsilon"] for r in merged["epsilon"]] == [2.0, 8.0, float("inf")]
    eight = next(r for r in merged["epsilon"] if r["epsilon"] == 8.0)
    assert eight["history"][-1]["hr_at_10"] == 0.36  # the later run
    assert (out / "merged.png").stat().st_size > 0


def test_a_sweep_without_the_non_private_run_still_merges(tmp_path):
    settings = {"dataset": "ml-100k", "sites": 8, "rounds": 2, "unit": "record"}
    path = tmp_path / "eps4.json"
    path.write_text(json.dumps({"settings": settings, "epsilon": [_run(4.0, 0.24)], "alpha": [], "weighting": []}))
    assert main(["--from-json", str(path), "--out", str(tmp_path), "--name", "eps4"]) == 0
    assert [r["epsilon"] for r in _merged(tmp_path, "eps4")["epsilon"]] == [4.0]

"""bench/privacy --from-json: sweeps run in parallel become one report, each point once, ε in order."""
import json

from bench.privacy import main


def _run(eps, hr, rounds=2):
    return {"epsilon": eps, "history": [{"round": r + 1, "hr_at_10": hr * (r + 1) / rounds, "ndcg_at_10": hr / 2}
                                        for r in range(rounds)]}


def test_parallel_sweeps_merge_into_one_report(tmp_path):
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

    report = (out / "merged.md").read_text()
    table = report.split("## Accuracy against ε")[1].split("\n\n")[1].splitlines()[2:]
    assert [row.split(" | ")[0] for row in table] == ["| 2.0", "| 8.0", "| inf"]
    assert "| 8.0 | 0.3600 | 0.1800 | 0.900 |" in report  # the later run, relative to non-private 0.4
    assert "all training records per user, batch 1024, lr 0.01→0.0005 (cosine)" in report
    assert (out / "merged.png").stat().st_size > 0
    assert [r["epsilon"] for r in json.loads((out / "merged.json").read_text())["epsilon"]] == [2.0, 8.0,
                                                                                               float("inf")]


def test_a_sweep_without_the_non_private_run_still_reports(tmp_path):
    """A parallel sweep holds no ε = ∞ run: its report is written, with the ratio left blank."""
    settings = {"dataset": "ml-100k", "sites": 8, "rounds": 2, "unit": "record"}
    path = tmp_path / "eps4.json"
    path.write_text(json.dumps({"settings": settings, "epsilon": [_run(4.0, 0.24)], "alpha": [], "weighting": []}))
    assert main(["--from-json", str(path), "--out", str(tmp_path), "--name", "eps4"]) == 0
    assert "| 4.0 | 0.2400 | 0.1200 | – |" in (tmp_path / "eps4.md").read_text()

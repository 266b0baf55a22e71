"""The validation holdout: each user's second-to-last item is evaluated and the test item is never read."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from fedads.eventlog.reader import read_events
from simulation.holdout import held_out_rows
from simulation.ray_backend import run_ray
from simulation.runner import SimConfig, make_trainer, start


def test_the_dropped_row_is_each_users_last_click_in_sequence_order():
    events = pa.table({"user_id": ["a", "b", "a", "a", "c", "b", "a", "b"],
                       "ad_id": ["1", "2", "3", "4", "5", "6", "7", "8"],
                       "timestamp": [5, 1, 9, 9, 3, 2, 10, 7],
                       "click": [1, 1, 1, 1, 1, 1, 0, 0]})
    # a: row 6 is later but unclicked; rows 2 and 3 tie at t=9 and the later row sorts last.
    # b: row 7 is unclicked, so row 5 (t=2) is its last click. c: one click only, kept.
    assert sorted(held_out_rows(events).tolist()) == [3, 5]


def _site_data(cfg: SimConfig, workdir):
    specs, registry = start(cfg, workdir)
    manifest, _ = registry.read_bytes(0)
    out = []
    for k, s in enumerate(specs):
        trainer = make_trainer(cfg, k, s.site_id, s.folder, s.folder / "state")
        model = trainer.build_model(*registry.read_bytes(0))
        out.append((s, trainer.data_for(model.config, trainer.catalog_for(manifest))))
    return out


def test_validation_evaluates_the_second_to_last_item_and_never_holds_the_test_item(tmp_path):
    base = dict(partition="user", max_users=6, model={"dim": 16, "ffn_hidden": 16})
    test = _site_data(SimConfig(**base), tmp_path / "test")
    val = _site_data(SimConfig(**base, holdout="validation"), tmp_path / "val")
    assert len(test) == len(val) == 6
    for (ts, td), (vs, vd) in zip(test, val):
        assert ts.site_id == vs.site_id and td.n_users == vd.n_users == 1
        seq = td.items[td.starts[0]:td.ends[0]]
        assert len(seq) >= 3
        # The validation sequence is the test sequence without its last item, so leave-one-out holds out the
        # second-to-last item and the test item appears in neither training nor evaluation.
        assert np.array_equal(vd.items[vd.starts[0]:vd.ends[0]], seq[:-1])
        _, _, vcands = vd.eval_examples(99, 0)
        _, _, tcands = td.eval_examples(99, 0)
        assert vcands[0, 0] == seq[-2] and tcands[0, 0] == seq[-1]
        assert len(read_events(vs.data / "events.parquet")) == len(read_events(ts.data / "events.parquet")) - 1


def test_the_default_holdout_is_the_test_item_and_an_unknown_one_is_refused(tmp_path):
    assert SimConfig().holdout == "test"
    with pytest.raises(ValueError, match="unknown holdout 'tset'"):
        start(SimConfig(holdout="tset"), tmp_path / "sim")
    assert not (tmp_path / "sim").exists()  # refused before anything was written
    with pytest.raises(ValueError, match="unset validation"):  # two held-out items would leave the test item's
        start(SimConfig(holdout="validation", validation=True), tmp_path / "sim")  # neighbour untrained
    assert not (tmp_path / "sim").exists()


def test_the_ray_backend_refuses_the_in_process_validation_metrics_before_starting(tmp_path):
    with pytest.raises(ValueError, match="holdout='validation'"):
        run_ray(SimConfig(partition="user", max_users=4, validation=True), tmp_path / "sim")
    assert not (tmp_path / "sim").exists()

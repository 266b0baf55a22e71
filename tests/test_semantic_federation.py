"""A federation whose model reads the ads' text vectors: what crosses the wire is the masked shared update only."""
from __future__ import annotations

import json

import numpy as np

from client_agent.local_store import LocalStore
from fedads.catalog.catalog import Catalog
from fedads.runtime.registry import ModelRegistry
from tests.helpers import assert_private_rows_not_sent


def test_a_semantic_round_sends_no_text_vectors_and_no_private_rows(federation_factory):
    fed = federation_factory(n_sites=2, max_users=16, proxy=True,
                             model_overrides={"use_semantics": True, "id_dropout": 0.2},
                             site_config={"*": "embedding_noise = 0.1"}).start()
    info = json.loads(fed.ctl("--json", "start-round", "--wait", "--min-sites", "2", "--distill-weight", "1.0").stdout)
    assert info["state"] == "COMPLETED", info
    assert info["config"]["distill_weight"] == 1.0
    manifest, published = ModelRegistry(fed.registry).load(info["result_version"])
    scopes = {t["name"]: t["scope"] for t in manifest["tensors"]}
    assert scopes["semantic.proj.weight"] == scopes["semantic.proj.bias"] == "global"
    assert not any("semantic_vectors" in name for name in published)
    _, base = ModelRegistry(fed.registry).load(info["base_version"])
    assert not np.array_equal(base["semantic.proj.weight"], published["semantic.proj.weight"])  # it trained

    vectors = Catalog.load(fed.workdir / "catalog").semantic[1:].astype("<f4")
    assert vectors.shape[1] == 384 and np.abs(vectors).sum() > 0
    wire = fed.coord_proxy.bytes() + fed.agg_proxy.bytes()
    masked_seen, clear = 0, []
    for p in info["participants"]:
        site = next(s for s in fed.sites if s.site_id == p["site_id"])
        store = LocalStore(site.folder / "state")
        vector, record = store.sent(info["round_id"])
        masked = store.sent_masked(info["round_id"])
        assert masked[8000:8128] in wire  # positive control: what the site did send is visible
        masked_seen += 1
        clear.append(vector.tobytes())
        assert_private_rows_not_sent(site.folder, wire)
    assert masked_seen == 2
    # No text vector (any 8 consecutive floats of one) is in any byte a site sent, nor in its update in the clear.
    for row in vectors[:: max(1, len(vectors) // 200)]:
        stretch = row[100:108].tobytes()
        assert stretch not in wire
        assert not any(stretch in c for c in clear)

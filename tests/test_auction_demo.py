"""The demo's closing auction: its candidates and bids (the gRPC part runs in `make demo`)."""
from __future__ import annotations

from deploy.auction_demo import CANDIDATES, PER_CATEGORY, candidates_for
from fedads.datasets import synthetic


def test_candidates_mix_the_users_next_categories_with_others_and_never_repeat_a_click(tmp_path):
    catalog = synthetic.catalog(tmp_path / "c", 400)  # ad-i has category cat-(i % 50)
    earlier, later = ["ad-1", "ad-2"], ["ad-3", "ad-53", "ad-4"]
    cands, next_categories, category = candidates_for(catalog, earlier, later, seed=1)
    ids = [c.ad_id for c in cands]
    assert next_categories == {"cat-3", "cat-4"} and len(ids) == len(set(ids)) == CANDIDATES
    assert not set(ids) & set(earlier + later)
    per = {c: sum(category[a] == c for a in ids) for c in next_categories}
    assert per == {"cat-3": PER_CATEGORY, "cat-4": PER_CATEGORY}
    assert all(0.9 <= c.bid <= 1.1 for c in cands) and len({c.bid for c in cands}) > 5
    again, _, _ = candidates_for(catalog, earlier, later, seed=1)
    assert [c.ad_id for c in again] == ids  # seeded

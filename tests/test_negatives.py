"""Where training's sampled negatives come from: the whole catalogue, or the site's own ads."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from admodels.data.sequences import SequenceData
from admodels.training import candidate_batch, negative_pool
from client_agent.config import ConfigError, SiteConfig


def _site_data() -> SequenceData:
    # A site that shows ads 1-5 only, of a 40-ad catalogue; each user's last item is held out.
    rng = np.random.default_rng(0)
    user = np.repeat(np.arange(20), 6)
    item = rng.integers(1, 6, len(user))
    item[5::6] = 9  # held-out items: ad 9 appears only there
    return SequenceData.from_arrays(user, item, np.tile(np.arange(6), 20), np.full(len(user), 4.0), 40, 5)


def test_site_negatives_come_from_the_ads_of_its_training_records_only():
    data = _site_data()
    pool = negative_pool(data, "site")
    assert sorted(pool.tolist()) == [1, 2, 3, 4, 5]  # not the held-out ad 9, not the rest of the catalogue
    idx = np.arange(len(data.items))[:30]
    gen = torch.Generator().manual_seed(0)
    _, _, cands, _ = candidate_batch(data, idx, 50, gen, torch.device("cpu"), pool)
    assert set(cands[:, 1:].unique().tolist()) <= {1, 2, 3, 4, 5}
    assert negative_pool(data, "catalogue") is None
    _, _, cands, _ = candidate_batch(data, idx, 50, torch.Generator().manual_seed(0), torch.device("cpu"))
    assert cands[:, 1:].max() > 5  # the catalogue default draws from every ad
    with pytest.raises(ValueError, match="negatives_from must be one of catalogue, site"):
        negative_pool(data, "domain")


def test_site_config_refuses_an_unknown_negative_source(tmp_path):
    path = tmp_path / "site.toml"
    path.write_text('site_id = "s"\ncoordinator = "c:1"\ndata = "data"\nstate_dir = "state"\ninsecure = true\n'
                    'negatives_from = "everything"\n')
    with pytest.raises(ConfigError, match="negatives_from must be one of catalogue, site"):
        SiteConfig.load(path)
    path.write_text(path.read_text().replace('"everything"', '"site"'))
    assert SiteConfig.load(path).negatives_from == "site"

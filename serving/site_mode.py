"""Site mode: a partner serves its own users with the private parameters its agent trained on site."""
from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from safetensors.torch import load_file

from admodels.models.fedads_model import ModelConfig, PrivateUserState
from fedads.eventlog.keys import user_keys


class SitePrivateParameters:
    def __init__(self, state_dir: Path, config: ModelConfig, site_data: Path | None = None):
        """site_data: the site's data folder (its data.toml), where the model reads user features: their
        codes come from the site's user-features table, as in training."""
        path = Path(state_dir) / "private.safetensors"
        if not path.exists():
            raise FileNotFoundError(f"{path} not found: run the site's client-agent for at least one round first")
        saved = load_file(str(path))
        keys = saved.pop("user_keys").numpy()
        codes = None
        if config.user_features:
            if site_data is None:
                raise ValueError("the served model reads user features: give the site's data folder (--site-data)")
            from admodels.models.user_features import UserFeatureCodes
            from fedads.eventlog.site_data import SiteData

            codes = UserFeatureCodes.build(SiteData.load(site_data), config.user_features, keys)
        self.private = PrivateUserState(config, len(keys), user_features=codes)
        try:
            self.private.load_state_dict(saved)
        except RuntimeError as exc:
            raise ValueError(f"private parameters in {path} do not fit the served model: {exc}") from exc
        self.private.eval()
        self.index = {int(k): i for i, k in enumerate(keys)}

    def user_index(self, user_id: str) -> int:
        """Local row of a site user, or -1 for users this site has no private parameters for."""
        return self.index.get(int(user_keys(pa.array([user_id], pa.string()))[0]), -1)


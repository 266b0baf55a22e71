"""`fedads-data fetch`: the official full files, for a user who has network. Never used by the tests.

GroupLens publishes MD5 checksums of its archives (pinned here and checked). The Tianchi (Taobao,
Ali-CCP) and Criteo releases need a signed-in download under their terms: fetch says where to get them
and where to put them instead of downloading.
"""
from __future__ import annotations

import hashlib
import shutil
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from admodels.data.paths import cache_dir

OFFICIAL = {
    "ml-100k": {"url": "https://files.grouplens.org/datasets/movielens/ml-100k.zip",
                "md5": "0e33842e24a9c977be4e0107933c0723"},
    "ml-1m": {"url": "https://files.grouplens.org/datasets/movielens/ml-1m.zip",
              "md5": "c4d9eecfca2ab87c1945afe126590906"},
}
MANUAL = {
    "taobao-userbehavior": "https://tianchi.aliyun.com/dataset/649 (UserBehavior.csv)",
    "taobao-ad": "https://tianchi.aliyun.com/dataset/56 (raw_sample.csv, ad_feature.csv, user_profile.csv)",
    "ali-ccp": "https://tianchi.aliyun.com/dataset/408",
    "criteo": "https://ailab.criteo.com/ressources/ (Kaggle display advertising challenge, train.txt)",
}


class FetchError(RuntimeError):
    pass


def fetch(name: str, dest_root: Path | None = None, timeout_s: float = 30.0) -> Path:
    dest_root = dest_root or cache_dir() / "data"
    if name in MANUAL:
        raise FetchError(f"{name} needs a signed-in download under its terms: get it from {MANUAL[name]} and put "
                         f"the files in {dest_root / name}/ (or a folder named by $FEDADS_DATA)")
    if name not in OFFICIAL:
        raise FetchError(f"unknown dataset {name!r}; one of {', '.join([*OFFICIAL, *MANUAL])}")
    spec = OFFICIAL[name]
    dest_root.mkdir(parents=True, exist_ok=True)
    archive = dest_root / f"{name}.zip.part"
    try:
        with urllib.request.urlopen(spec["url"], timeout=timeout_s) as resp, open(archive, "wb") as out:
            shutil.copyfileobj(resp, out)
    except (urllib.error.URLError, OSError) as exc:
        archive.unlink(missing_ok=True)
        raise FetchError(f"could not download {spec['url']} ({getattr(exc, 'reason', exc)}); "
                         "this machine may have no network") from None
    digest = hashlib.md5(archive.read_bytes()).hexdigest()  # noqa: S324 - GroupLens publishes MD5 only
    if digest != spec["md5"]:
        archive.unlink()
        raise FetchError(f"{name}: downloaded archive has MD5 {digest}, not the published {spec['md5']}; discarded")
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(dest_root)
    archive.unlink()
    return dest_root / name

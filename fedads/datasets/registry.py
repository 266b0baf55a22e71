"""The converters by dataset name."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from fedads.datasets import ali_ccp, criteo, movielens, taobao
from fedads.datasets.converted import Converted


def _source(name: str, source: Path | None = None) -> Converted:
    if name in ("ml-100k", "ml-1m"):
        return movielens.convert(name)
    if name == "taobao-userbehavior":
        return taobao.convert_userbehavior(source)
    if name == "taobao-ad":
        if source is not None and source.is_dir():
            return taobao.convert_taobao_ad_official(source)
        return taobao.convert_taobao_ad_dmr(source)
    if name == "ali-ccp":
        return ali_ccp.convert([source] if source else None)
    if name == "criteo":
        return criteo.convert(source)
    raise ValueError(f"unknown dataset {name!r}; one of {', '.join(DATASETS)}")


DATASETS = ("ml-100k", "ml-1m", "taobao-userbehavior", "taobao-ad", "ali-ccp", "criteo")
convert: Callable[..., Converted] = _source

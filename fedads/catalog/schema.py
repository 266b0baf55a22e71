"""The catalogue's declaration (`catalog.toml`): which ad columns are features, of which kind.

    [catalog]
    value_scale = 5.0          # cost model: the value head regresses value / value_scale

    [[features]]
    name = "category"          # a column of the ad feed
    kind = "categorical"       # categorical | numeric | text
    separator = "|"            # optional: multi-valued categorical ("Action|Comedy")

    [text_encoder]             # optional: embed the ads' text into the shared semantic space
    name = "all-MiniLM-L6-v2"  # the packaged default
    path = ""                  # or a local sentence-transformers folder (not part of the catalogue's content)
    fields = ["title"]         # features whose text is embedded, joined (default: every text feature)
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from fedads.tomlfile import read_toml

KINDS = ("categorical", "numeric", "text")
ID_COLUMN = "ad_id"
PAD, UNKNOWN = 0, 1  # reserved indices of every categorical vocabulary
FIRST_INDEX = 2
MAX_VALUES_PER_AD = 16  # a multi-valued feature keeps at most this many values of one ad


class SchemaError(ValueError):
    pass


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    kind: str
    separator: str = ""  # categorical only: split the raw value into several

    @property
    def multi(self) -> bool:
        return bool(self.separator)


@dataclass(frozen=True)
class CatalogSchema:
    features: tuple[FeatureSpec, ...] = ()
    value_scale: float = 1.0
    text_encoder: str = ""          # the encoder's name; empty: no semantic vectors
    text_fields: tuple[str, ...] = ()
    encoder_path: str = field(default="", compare=False)  # where to load it from at build time only

    def __post_init__(self):
        names = [f.name for f in self.features]
        if len(set(names)) != len(names):
            raise SchemaError(f"feature names must be unique; found {names}")
        for f in self.features:
            if f.kind not in KINDS:
                raise SchemaError(f"feature {f.name!r}: kind must be one of {', '.join(KINDS)}, not {f.kind!r}")
            if f.name == ID_COLUMN or not f.name or "__" in f.name:
                raise SchemaError(f"feature name {f.name!r} is reserved or invalid")
            if f.separator and f.kind != "categorical":
                raise SchemaError(f"feature {f.name!r}: only categorical features take a separator")
        names = {f.name for f in self.features}
        if self.text_encoder:
            object.__setattr__(self, "text_fields", self.effective_text_fields())
            missing = [f for f in self.effective_text_fields() if f not in names]
            if missing or not self.effective_text_fields():
                raise SchemaError(f"text_encoder fields {missing or '(none)'} are not declared features; declare a "
                                  "text feature or list features under [text_encoder] fields")
        if not (self.value_scale > 0 and self.value_scale < float("inf")):
            raise SchemaError(f"value_scale must be a positive finite number, not {self.value_scale}")

    def effective_text_fields(self) -> tuple[str, ...]:
        return self.text_fields or tuple(f.name for f in self.features if f.kind == "text")

    def of_kind(self, kind: str) -> list[FeatureSpec]:
        return [f for f in self.features if f.kind == kind]

    def to_dict(self) -> dict:
        out = {"value_scale": self.value_scale, "features": [asdict(f) for f in self.features]}
        if self.text_encoder:
            out["text_encoder"] = {"name": self.text_encoder, "fields": list(self.effective_text_fields())}
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "CatalogSchema":
        try:
            feats = tuple(FeatureSpec(**f) for f in data.get("features", []))
        except TypeError as exc:
            raise SchemaError(f"bad feature declaration: {exc}") from exc
        enc = data.get("text_encoder") or {}
        unknown = set(enc) - {"name", "fields", "path"}
        if unknown:
            raise SchemaError(f"unknown [text_encoder] keys {sorted(unknown)}")
        return cls(feats, float(data.get("value_scale", 1.0)), str(enc.get("name", "")),
                   tuple(enc.get("fields", ())), str(enc.get("path", "")))

    @classmethod
    def load(cls, path: str | Path) -> "CatalogSchema":
        path = Path(path)
        raw = read_toml(path, "catalogue schema", SchemaError)
        unknown = set(raw) - {"catalog", "features", "text_encoder"}
        if unknown:
            raise SchemaError(f"catalogue schema {path}: unknown sections {sorted(unknown)}")
        head = raw.get("catalog", {})
        unknown = set(head) - {"value_scale"}
        if unknown:
            raise SchemaError(f"catalogue schema {path}: unknown [catalog] keys {sorted(unknown)}")
        encoder = dict(raw.get("text_encoder", {}))
        if encoder.get("path"):
            encoder["path"] = str((path.parent / encoder["path"]).resolve())
        return cls.from_dict({"features": raw.get("features", []), "text_encoder": encoder, **head})

    def to_toml(self) -> str:
        lines = ["[catalog]", f"value_scale = {self.value_scale!r}", ""]
        for f in self.features:
            lines += ["[[features]]", f'name = "{f.name}"', f'kind = "{f.kind}"']
            if f.separator:
                lines.append(f'separator = "{f.separator}"')
            lines.append("")
        if self.text_encoder:
            lines += ["[text_encoder]", f'name = "{self.text_encoder}"',
                      "fields = [" + ", ".join(f'"{f}"' for f in self.effective_text_fields()) + "]", ""]
        return "\n".join(lines)

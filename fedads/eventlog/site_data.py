"""The site's data manifest (`data.toml` beside its event log): what the files are and how to read them.

    events = "events.parquet"          # or .csv with a header
    user_features = "users.parquet"    # optional; never leaves the site
    user_feature_columns = ["age_bucket", "gender", "occupation", "zip"]  # the model may read these
    interaction_only = true            # no unclicked impressions: the trainer samples negatives
    dataset = "ml-100k"                # informational

    [public_user_features]             # low-cardinality profile fields the site agrees to train shared
    gender = ["F", "M"]                # (global) tables with: every value, in the federation's order

A user-feature column is private unless it is listed under public_user_features: a model that reads it
keeps its table in the site's private state, which is never sent.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from fedads.eventlog.reader import EventLogError
from fedads.tomlfile import read_toml

MANIFEST = "data.toml"
_KEYS = {"events", "user_features", "user_feature_columns", "public_user_features", "interaction_only", "dataset"}


@dataclass
class SiteData:
    events: Path
    user_features: Path | None = None
    interaction_only: bool = False
    dataset: str = ""
    user_feature_columns: list[str] = field(default_factory=list)
    public_user_features: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path) -> "SiteData":
        """A data.toml, or the folder holding one."""
        path = Path(path)
        if path.is_dir():
            path = path / MANIFEST
        raw = read_toml(path, "site data manifest", EventLogError)
        unknown = set(raw) - _KEYS
        if unknown:
            raise EventLogError(f"site data manifest {path}: unknown keys {sorted(unknown)}")
        if "events" not in raw:
            raise EventLogError(f"site data manifest {path}: set events = \"<event log file>\"")
        columns = raw.get("user_feature_columns", [])
        public = raw.get("public_user_features", {})
        if not isinstance(columns, list) or not all(isinstance(c, str) and c for c in columns):
            raise EventLogError(f"site data manifest {path}: user_feature_columns must be a list of column names")
        if not isinstance(public, dict):
            raise EventLogError(f"site data manifest {path}: [public_user_features] must map a column to its values")
        for name, values in public.items():
            if name not in columns:
                raise EventLogError(f"site data manifest {path}: public user feature {name!r} is not in "
                                    "user_feature_columns")
            if not isinstance(values, list) or not values or len(set(map(str, values))) != len(values):
                raise EventLogError(f"site data manifest {path}: public user feature {name!r} needs a list of "
                                    "distinct values")
        if columns and not raw.get("user_features"):
            raise EventLogError(f"site data manifest {path}: user_feature_columns given but no user_features file")
        base = path.parent
        return cls((base / raw["events"]).resolve(),
                   (base / raw["user_features"]).resolve() if raw.get("user_features") else None,
                   bool(raw.get("interaction_only", False)), str(raw.get("dataset", "")), list(columns),
                   {k: [str(v) for v in vs] for k, vs in public.items()})

    def scope_of(self, column: str) -> str:
        """`global` for a column the site declared public, else `private`."""
        return "global" if column in self.public_user_features else "private"

    def write(self, path: Path) -> None:
        base = path.parent
        rel = lambda p: p.resolve().relative_to(base.resolve()).as_posix()  # noqa: E731
        quote = lambda xs: "[" + ", ".join(f'"{x}"' for x in xs) + "]"  # noqa: E731
        lines = [f'events = "{rel(self.events)}"']
        if self.user_features:
            lines.append(f'user_features = "{rel(self.user_features)}"')
        if self.user_feature_columns:
            lines.append(f"user_feature_columns = {quote(self.user_feature_columns)}")
        lines += [f"interaction_only = {'true' if self.interaction_only else 'false'}", f'dataset = "{self.dataset}"']
        if self.public_user_features:
            lines.append("\n[public_user_features]")
            lines += [f"{k} = {quote(v)}" for k, v in self.public_user_features.items()]
        path.write_text("\n".join(lines) + "\n")

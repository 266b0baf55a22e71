"""The site's data manifest (`data.toml` beside its event log): what the files are and how to read them.

    events = "events.parquet"          # or .csv with a header
    user_features = "users.parquet"    # optional; never leaves the site
    interaction_only = true            # no unclicked impressions: the trainer samples negatives
    dataset = "ml-100k"                # informational
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fedads.eventlog.reader import EventLogError
from fedads.tomlfile import read_toml

MANIFEST = "data.toml"


@dataclass
class SiteData:
    events: Path
    user_features: Path | None = None
    interaction_only: bool = False
    dataset: str = ""

    @classmethod
    def load(cls, path: str | Path) -> "SiteData":
        """A data.toml, or the folder holding one."""
        path = Path(path)
        if path.is_dir():
            path = path / MANIFEST
        raw = read_toml(path, "site data manifest", EventLogError)
        unknown = set(raw) - {"events", "user_features", "interaction_only", "dataset"}
        if unknown:
            raise EventLogError(f"site data manifest {path}: unknown keys {sorted(unknown)}")
        if "events" not in raw:
            raise EventLogError(f"site data manifest {path}: set events = \"<event log file>\"")
        base = path.parent
        return cls((base / raw["events"]).resolve(),
                   (base / raw["user_features"]).resolve() if raw.get("user_features") else None,
                   bool(raw.get("interaction_only", False)), str(raw.get("dataset", "")))

    def write(self, path: Path) -> None:
        base = path.parent
        rel = lambda p: p.resolve().relative_to(base.resolve()).as_posix()  # noqa: E731
        lines = [f'events = "{rel(self.events)}"']
        if self.user_features:
            lines.append(f'user_features = "{rel(self.user_features)}"')
        lines += [f"interaction_only = {'true' if self.interaction_only else 'false'}", f'dataset = "{self.dataset}"']
        path.write_text("\n".join(lines) + "\n")

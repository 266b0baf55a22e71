"""A virtual client's private state on disk, one committed version per round it trained in.

A round's training works on a copy of the latest committed state and commits it, with the round's
outcome, by renaming the copy into place, so a worker killed at any point leaves either the old
state (the client trains again from it on retry) or the new state with its outcome (a retry reads
the outcome back instead of training twice). Nothing is held in a worker's memory between clients.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_COMMITTED = re.compile(r"^state-r(\d{6})$")
OUTCOME = "round-outcome.npz"


@dataclass
class Outcome:
    """What the driver needs from one client's round: its packed update and bookkeeping."""
    site_id: str
    vector: np.ndarray | None      # None: the client refused (privacy budget exhausted)
    num_samples: int = 0
    samples_trained: int = 0
    privacy: dict | None = None
    from_disk: bool = False        # read back from an earlier attempt's commit, not trained now


class ClientState:
    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def _versions(self) -> list[tuple[int, Path]]:
        if not self.folder.exists():
            return []
        out = []
        for p in self.folder.iterdir():
            m = _COMMITTED.match(p.name)
            if m and p.is_dir():
                out.append((int(m.group(1)), p))
        return sorted(out)

    def latest(self) -> Path:
        """The newest committed state (an empty round-0 state before the first round)."""
        versions = self._versions()
        if versions:
            return versions[-1][1]
        first = self.folder / "state-r000000"
        first.mkdir(parents=True, exist_ok=True)
        return first

    def committed(self, r: int) -> Outcome | None:
        """Round r's outcome if an attempt already committed it."""
        path = self.folder / f"state-r{r:06d}" / OUTCOME
        if not path.exists():
            return None
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            vector = z["vector"] if meta["trained"] else None
        return Outcome(meta["site_id"], vector, meta["num_samples"], meta["samples_trained"], meta["privacy"],
                       from_disk=True)

    def begin(self, r: int) -> Path:
        """A scratch copy of the latest state for round r (any earlier attempt's scratch is discarded)."""
        scratch = self.folder / f".state-r{r:06d}.tmp"
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.copytree(self.latest(), scratch)
        (scratch / OUTCOME).unlink(missing_ok=True)
        return scratch

    def commit(self, r: int, scratch: Path, outcome: Outcome) -> None:
        meta = {"site_id": outcome.site_id, "trained": outcome.vector is not None, "num_samples": outcome.num_samples,
                "samples_trained": outcome.samples_trained, "privacy": outcome.privacy}
        vector = outcome.vector if outcome.vector is not None else np.zeros(0)
        with open(scratch / OUTCOME, "wb") as fh:
            np.savez(fh, vector=vector, meta=np.array(json.dumps(meta)))
            fh.flush()
            os.fsync(fh.fileno())
        older = [p for v, p in self._versions() if v < r]
        os.rename(scratch, self.folder / f"state-r{r:06d}")  # the commit point
        for p in older:
            shutil.rmtree(p, ignore_errors=True)

"""SecAgg+ stages of one round on the aggregator: who answered, deadlines, and waking the waiters.

Sites call in and block until their stage closes for everyone (all expected sites answered, or
the stage deadline passed), so every site sees the same set of keys and shares.
"""
from __future__ import annotations

import threading
import time

import numpy as np

from privacy.secagg.client import Advert, EncryptedShare, RevealedShare
from privacy.secagg.config import SecAggConfig
from privacy.secagg.keys import SecAggError
from privacy.secagg.server import SecAggServer

ORDER = ("advertise", "share", "masked", "unmask", "done")


class StageClosed(Exception):
    pass


class SecAggStages:
    def __init__(self, config: SecAggConfig, length: int, stage_deadline_s: float):
        self.server = SecAggServer(config, length)
        self.config = config
        self.stage_deadline_s = stage_deadline_s
        self.stage = "advertise"
        self.failed = ""
        self.deadline = time.time() + stage_deadline_s
        self.answered: dict[str, list[str]] = {}
        self.dropped: set[str] = set()
        self.cond = threading.Condition()

    # --- bookkeeping ---
    def _require(self, stage: str) -> None:
        if self.failed:
            raise StageClosed(f"round aborted: {self.failed}")
        if self.stage != stage:
            raise StageClosed(f"secure aggregation is in stage {self.stage!r}, not {stage!r}")

    def _advance(self, to: str, deadline_s: float | None) -> None:
        self.answered[self.stage] = sorted(self._done_set())
        self.stage = to
        self.deadline = time.time() + deadline_s if deadline_s else float("inf")
        self.cond.notify_all()

    def _done_set(self) -> set[str]:
        s = self.server
        return {"advertise": set(s.adverts), "share": set(s.sharers), "masked": set(s.masked),
                "unmask": set(s.revealed)}.get(self.stage, set())

    def _expected(self) -> set[str]:
        s = self.server
        expected = {"advertise": set(self.config.participants), "share": set(s.adverts), "masked": set(s.sharers),
                    "unmask": set(s.masked)}.get(self.stage, set())
        return expected - self.dropped

    def _wait_past(self, stage: str, next_stage: str, next_deadline: float | None) -> None:
        """Block until `stage` has closed, closing it ourselves when everyone answered or time ran out."""
        while True:
            if self.failed:
                raise StageClosed(f"round aborted: {self.failed}")
            if ORDER.index(self.stage) > ORDER.index(stage):
                return
            if self._done_set() >= self._expected() or time.time() >= self.deadline:
                self._advance(next_stage, next_deadline)
                return
            self.cond.wait(min(0.5, max(0.01, self.deadline - time.time())))

    # --- site calls ---
    def advertise(self, advert: Advert) -> list[Advert]:
        with self.cond:
            self._require("advertise")
            self.server.receive_advert(advert)
            self.cond.notify_all()
            self._wait_past("advertise", "share", self.stage_deadline_s)
            return self.server.adverts_for(advert.site)

    def share(self, site: str, shares: list[EncryptedShare]) -> list[EncryptedShare]:
        with self.cond:
            self._require("share")
            self.server.receive_shares(site, shares)
            self.cond.notify_all()
            self._wait_past("share", "masked", None)  # masked inputs wait for local training
            return self.server.shares_for(site)

    def masked_input(self, site: str, y: np.ndarray) -> None:
        with self.cond:
            self._require("masked")
            self.server.receive_masked(site, y)

    def survivors(self, site: str, timeout: float) -> list[str]:
        end = time.time() + timeout
        with self.cond:
            while ORDER.index(self.stage) < ORDER.index("unmask"):
                if self.failed:
                    raise StageClosed(f"round aborted: {self.failed}")
                if time.time() > end:
                    raise StageClosed("unmasking did not start in time")
                self.cond.wait(0.5)
            if self.failed:
                raise StageClosed(f"round aborted: {self.failed}")
            if site not in self.server.masked:
                raise StageClosed(f"{site} has no masked input in this round")
            return self.server.survivors()

    def reveal(self, site: str, shares: list[RevealedShare]) -> None:
        with self.cond:
            self._require("unmask")
            self.server.receive_reveal(site, shares)
            self.cond.notify_all()

    # --- coordinator calls ---
    def finalize(self) -> tuple[np.ndarray, list[str]]:
        """Close masked input, run unmasking until all survivors revealed or the deadline, remove masks."""
        with self.cond:
            self._require("masked")
            self._advance("unmask", self.stage_deadline_s)
            self._wait_past("unmask", "done", None)
            try:
                total, survivors = self.server.finish()
            except SecAggError as exc:
                self.failed = str(exc)
                self.cond.notify_all()
                raise
            return self.config.encoding.decode_sum(total, len(survivors)), survivors

    def drop(self, sites: list[str]) -> None:
        """Sites the coordinator dropped: no stage waits for them, and a masked input one of them already sent
        leaves the sum. Before unmasking that makes it a dropout like any other (the survivors reveal its mask
        key, never its self-mask seed); once the survivor list is out it cannot leave the sum, so the round fails."""
        with self.cond:
            self.dropped.update(sites)
            held = [s for s in sites if s in self.server.masked]
            if held and ORDER.index(self.stage) >= ORDER.index("unmask"):
                self.failed = (f"{', '.join(sorted(held))} dropped after unmasking began; its input cannot be "
                               "excluded any more")
            for site in held:
                if not self.failed:
                    self.server.withdraw(site)
            self.cond.notify_all()

    def abort(self, reason: str) -> None:
        with self.cond:
            self.failed = reason or "aborted"
            self.cond.notify_all()

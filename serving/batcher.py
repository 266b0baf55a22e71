"""Micro-batching: concurrent requests that arrive while the model is busy share one forward pass.

The worker takes the first waiting request and whatever else is already queued (up to
`max_batch`), never waiting for more, so a lone request pays no batching delay while a burst of
requests pays one forward instead of many.
"""
from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field

import torch

from serving.model_holder import LoadedModel


@dataclass
class ScoreJob:
    loaded: LoadedModel
    history: list[int]
    candidates: list[int]
    user_index: int = -1  # local user index in site mode; -1: no private parameters
    future: Future = field(default_factory=Future)


class MicroBatcher:
    def __init__(self, max_batch: int = 32, private=None):
        self.max_batch = max_batch
        self.private = private  # PrivateUserState in site mode
        self._queue: queue.Queue[ScoreJob | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, daemon=True, name="micro-batcher")
        self._thread.start()
        self.batches = 0
        self.jobs = 0

    def score(self, job: ScoreJob, timeout: float = 30.0) -> dict[str, torch.Tensor]:
        self._queue.put(job)
        return job.future.result(timeout)

    def close(self) -> None:
        self._queue.put(None)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            jobs = [first]
            while len(jobs) < self.max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)
                    break
                jobs.append(nxt)
            # Jobs may name different model versions (a swap mid-burst, or a pinned version), and in
            # site mode only the site's own users have private parameters: one forward per kind.
            by_model: dict[tuple[int, bool], list[ScoreJob]] = {}
            for job in jobs:
                by_model.setdefault((id(job.loaded), job.user_index >= 0), []).append(job)
            for group in by_model.values():
                try:
                    results = forward_batch(group, self.private)
                except Exception as exc:  # noqa: BLE001 - the callers get the error, the worker survives
                    for job in group:
                        job.future.set_exception(exc)
                    continue
                for job, res in zip(group, results):
                    job.future.set_result(res)
            self.batches += 1
            self.jobs += len(jobs)


@torch.inference_mode()
def forward_batch(jobs: list[ScoreJob], private=None) -> list[dict[str, torch.Tensor]]:
    loaded = jobs[0].loaded
    L = loaded.config.max_seq_len
    C = max(len(j.candidates) for j in jobs)
    seq = torch.zeros(len(jobs), L, dtype=torch.long)
    cands = torch.zeros(len(jobs), C, dtype=torch.long)  # 0 pads short candidate lists; their scores are dropped
    for row, job in enumerate(jobs):
        hist = job.history[-L:]
        if hist:
            seq[row, L - len(hist):] = torch.tensor(hist, dtype=torch.long)
        cands[row, :len(job.candidates)] = torch.tensor(job.candidates, dtype=torch.long)
    use_private = private is not None and jobs[0].user_index >= 0
    users = torch.tensor([j.user_index for j in jobs], dtype=torch.long) if use_private else None
    out = loaded.model(seq, cands, users, private if use_private else None)
    p_ctr = torch.sigmoid(out["ctr_logit"])
    p_cvr = torch.sigmoid(out["cvr_logit"])
    results = []
    for row, job in enumerate(jobs):
        n = len(job.candidates)
        results.append({"p_ctr": p_ctr[row, :n], "p_cvr": p_cvr[row, :n], "p_ctcvr": (p_ctr * p_cvr)[row, :n],
                        "value": out["value"][row, :n]})
    return results

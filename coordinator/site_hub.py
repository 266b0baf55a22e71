"""Which sites hold an open task stream, and the task each should be working on.

A site that drops its stream and reconnects gets its pending task again, so a network blip
does not cost the round a participant.
"""
from __future__ import annotations

import queue
import threading
import time

from coordinator.metrics import SITES_ONLINE


class SiteHub:
    def __init__(self):
        self._lock = threading.Lock()
        self._queues: dict[str, queue.Queue] = {}
        self._pending: dict[str, object] = {}
        self._disconnected_at: dict[str, float] = {}

    def connect(self, site_id: str) -> queue.Queue:
        q: queue.Queue = queue.Queue()
        with self._lock:
            old = self._queues.get(site_id)
            if old is not None:
                old.put(None)  # a newer stream replaces an older one of the same site
            self._queues[site_id] = q
            self._disconnected_at.pop(site_id, None)
            if site_id in self._pending:
                q.put(self._pending[site_id])
            SITES_ONLINE.set(len(self._queues))
        return q

    def disconnect(self, site_id: str, q: queue.Queue) -> None:
        with self._lock:
            if self._queues.get(site_id) is q:
                del self._queues[site_id]
                self._disconnected_at[site_id] = time.time()
            SITES_ONLINE.set(len(self._queues))

    def online(self) -> list[str]:
        with self._lock:
            return sorted(self._queues)

    def is_online(self, site_id: str) -> bool:
        with self._lock:
            return site_id in self._queues

    def offline_for(self, site_id: str) -> float:
        """Seconds since the site's stream closed; 0 while online; inf if never seen."""
        with self._lock:
            if site_id in self._queues:
                return 0.0
            at = self._disconnected_at.get(site_id)
            return float("inf") if at is None else time.time() - at

    def assign(self, site_id: str, task) -> None:
        with self._lock:
            self._pending[site_id] = task
            q = self._queues.get(site_id)
            if q is not None:
                q.put(task)

    def clear(self, site_id: str, round_id: int | None = None) -> None:
        with self._lock:
            task = self._pending.get(site_id)
            if task is not None and (round_id is None or task.round_id == round_id):
                del self._pending[site_id]

    def kick(self, site_id: str) -> None:
        """Close the site's stream (used on revocation)."""
        with self._lock:
            q = self._queues.pop(site_id, None)
            self._pending.pop(site_id, None)
        if q is not None:
            q.put(None)

    def tell(self, site_id: str, task) -> None:
        """Send a one-off notice (such as a round's abort) on the site's open stream; never replayed."""
        with self._lock:
            q = self._queues.get(site_id)
            if q is not None:
                q.put(task)

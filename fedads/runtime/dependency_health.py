"""Health that tells the truth: NOT_SERVING while a dependency the service needs is down.

Each probe is a (name, fn) pair; fn returns True when the dependency answers. The watch runs them every
`interval_s` and sets every registered service's health, logging one line on each change, not on each probe.
"""
from __future__ import annotations

import logging
import threading
from typing import Callable

from grpc_health.v1 import health_pb2

log = logging.getLogger(__name__)


class DependencyWatch:
    def __init__(self, server, probes: list[tuple[str, Callable[[], bool]]], interval_s: float = 2.0):
        self.server, self.probes, self.interval_s = server, probes, interval_s
        self.down: set[str] = set()
        self._stop = threading.Event()

    def check_once(self) -> set[str]:
        down = set()
        for name, probe in self.probes:
            try:
                ok = probe()
            except Exception:  # noqa: BLE001 - a probe that raises means the dependency is not usable
                ok = False
            if not ok:
                down.add(name)
        if down != self.down:
            for name in sorted(down - self.down):
                log.error("dependency down: health is NOT_SERVING", extra={"dependency": name})
            for name in sorted(self.down - down):
                log.info("dependency back", extra={"dependency": name})
            self.down = down
            self.server.set_health(health_pb2.HealthCheckResponse.NOT_SERVING if down
                                   else health_pb2.HealthCheckResponse.SERVING)
        return down

    def start(self) -> "DependencyWatch":
        def loop():
            while not self._stop.is_set():
                self.check_once()
                self._stop.wait(self.interval_s)
        threading.Thread(target=loop, daemon=True, name="dependency-watch").start()
        self.server.on_stop(self._stop.set)
        return self

"""One coordinator per database: a lease row taken at start-up and renewed while the process runs.

Taking the lease is a compare-and-set UPDATE on the row it read, so of two coordinators starting at once
on one database exactly one wins, on SQLite and PostgreSQL alike. A lease is free when it is released,
when it was not renewed for `ttl_s`, or when its holder ran on this host under a pid that no longer
exists (a coordinator killed with -9 and restarted at once need not wait out the TTL).
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid

from sqlalchemy import select, update

from coordinator.schema import CoordinatorLease

log = logging.getLogger(__name__)

DEFAULT_TTL_S = 15.0


class LeaseHeld(Exception):
    """Another live coordinator holds this database."""


class LeaseLost(Exception):
    """This coordinator's lease was taken over (it was not renewed in time)."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class CoordinatorLeaseHandle:
    def __init__(self, store, address: str = "", ttl_s: float = DEFAULT_TTL_S):
        self.store, self.address, self.ttl_s = store, address, ttl_s
        self.host, self.pid = socket.gethostname(), os.getpid()
        self.holder = f"{self.host}:{self.pid}:{uuid.uuid4().hex[:12]}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _free(self, row: CoordinatorLease, now: float) -> bool:
        if not row.holder or row.holder == self.holder:
            return True
        if now - row.renewed_at > self.ttl_s:
            return True
        return row.host == self.host and row.pid != self.pid and not _pid_alive(row.pid)

    def acquire(self) -> None:
        now = time.time()
        with self.store.session() as s:
            row = s.get(CoordinatorLease, 1)
            if not self._free(row, now):
                age = now - row.renewed_at
                raise LeaseHeld(f"database already in use by the coordinator at {row.address or '?'} "
                                f"(host {row.host}, pid {row.pid}, lease renewed {age:.0f}s ago); stop it, or wait "
                                f"{max(0.0, self.ttl_s - age):.0f}s if it is gone")
            taken = s.execute(update(CoordinatorLease).where(
                CoordinatorLease.id == 1, CoordinatorLease.holder == row.holder,
                CoordinatorLease.renewed_at == row.renewed_at).values(
                holder=self.holder, host=self.host, pid=self.pid, address=self.address, renewed_at=now)).rowcount
        if taken != 1:
            raise LeaseHeld("database was taken by another coordinator starting at the same moment")

    def renew(self) -> None:
        with self.store.session() as s:
            n = s.execute(update(CoordinatorLease).where(CoordinatorLease.id == 1,
                                                         CoordinatorLease.holder == self.holder)
                          .values(renewed_at=time.time())).rowcount
        if n != 1:
            raise LeaseLost("this coordinator's database lease was taken over by another coordinator")

    def holder_row(self) -> dict:
        with self.store.session() as s:
            row = s.scalars(select(CoordinatorLease).where(CoordinatorLease.id == 1)).one()
            return {"holder": row.holder, "host": row.host, "pid": row.pid, "address": row.address,
                    "renewed_at": row.renewed_at}

    def keep_renewed(self, on_lost) -> None:
        """Renew every ttl/3 in a daemon thread; `on_lost(reason)` runs once if the lease is gone."""
        def loop():
            while not self._stop.wait(self.ttl_s / 3):
                try:
                    self.renew()
                except LeaseLost as exc:
                    log.error("lease lost", extra={"reason": str(exc)})
                    on_lost(str(exc))
                    return
                except Exception as exc:  # noqa: BLE001 - a database blip: retry at the next tick
                    log.warning("could not renew the coordinator lease", extra={"reason": str(exc)[:300]})
        self._thread = threading.Thread(target=loop, daemon=True, name="coordinator-lease")
        self._thread.start()

    def release(self) -> None:
        self._stop.set()
        try:
            with self.store.session() as s:
                s.execute(update(CoordinatorLease).where(CoordinatorLease.id == 1,
                                                         CoordinatorLease.holder == self.holder)
                          .values(holder="", renewed_at=0.0))
        except Exception:  # noqa: BLE001 - the TTL frees it anyway
            log.warning("could not release the coordinator lease")

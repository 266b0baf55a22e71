"""The coordinator's database lease on SQLite and PostgreSQL: refused while held, taken when free."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlalchemy import update

from coordinator.lease import CoordinatorLeaseHandle, LeaseHeld, LeaseLost
from coordinator.schema import CoordinatorLease
from coordinator.store import CoordinatorStore


def _pose_as(store, pid: int, renewed_at: float, host: str | None = None) -> None:
    """Write the lease row as another coordinator process would have left it."""
    import socket
    import time

    with store.session() as s:
        s.execute(update(CoordinatorLease).where(CoordinatorLease.id == 1).values(
            holder=f"{host or socket.gethostname()}:{pid}:other", host=host or socket.gethostname(), pid=pid,
            address="127.0.0.1:7000", renewed_at=time.time() + renewed_at))


def test_lease_is_exclusive_and_recovers_from_dead_holders(store_url):
    store = CoordinatorStore(store_url)
    first = CoordinatorLeaseHandle(store, "127.0.0.1:7000", ttl_s=30)
    first.acquire()
    second = CoordinatorLeaseHandle(CoordinatorStore(store_url), "127.0.0.1:7002", ttl_s=30)
    with pytest.raises(LeaseHeld, match="in use by the coordinator at 127.0.0.1:7000"):
        second.acquire()
    first.release()
    second.acquire()  # released: free at once
    with pytest.raises(LeaseLost):
        first.renew()  # the old holder learns it no longer owns the database
    second.renew()

    # A live process on this host holds it (our parent): refused. A pid that exited: free.
    _pose_as(store, os.getppid(), 0.0)
    with pytest.raises(LeaseHeld):
        first.acquire()
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    _pose_as(store, gone.pid, 0.0)
    first.acquire()

    # Another host's coordinator: held until its lease has not been renewed for the TTL.
    _pose_as(store, 1, -5.0, host="elsewhere")
    with pytest.raises(LeaseHeld, match=r"renewed \d+s ago.*wait \d+s"):
        first.acquire()
    _pose_as(store, 1, -31.0, host="elsewhere")
    first.acquire()
    assert first.holder_row()["holder"] == first.holder

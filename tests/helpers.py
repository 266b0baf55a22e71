"""Test harness: real service processes on loopback, real site agents, a byte-capturing TCP proxy."""
from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from pathlib import Path

from deploy import processes as P
from deploy.site_setup import prepare_federation
from fedads.runtime.pki_cli import init_federation
from fedads.runtime.tls import Transport


def registry_snapshot(registry) -> dict[int, str]:
    """version → sha256 of every published model: equal snapshots mean nothing was published or changed."""
    return {v: registry.manifest(v)["sha256"] for v in registry.versions()}


class CapturingProxy:
    """Forwards TCP from a loopback port to a target and records every byte sent client → server."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Not port 0: the kernel may hand back a port free_port just gave a service that has not bound it yet.
        self.port = P.free_port()
        self.listener.bind(("127.0.0.1", self.port))
        self.listener.listen(64)
        self.captured = bytearray()
        self.lock = threading.Lock()
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _accept(self):
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, src, dst, record):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if record:
                    with self.lock:
                        self.captured += data
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def bytes(self) -> bytes:
        with self.lock:
            return bytes(self.captured)

    def close(self):
        self.closed = True
        self.listener.close()


class Federation:
    """Aggregator + coordinator processes and site agents over a real MovieLens-100K subset."""

    def __init__(self, workdir: Path, n_sites: int = 3, max_users: int = 60, proxy: bool = False,
                 reconnect_grace_s: float = 2.0, seed: int = 0, site_config: dict[str, str] | None = None,
                 tls: bool | None = None, user_features: bool = False, model_overrides: dict | None = None):
        self.workdir = workdir
        # mTLS like production, except where a test reads the application bytes on the wire.
        self.tls = (not proxy) if tls is None else tls
        self.pki = init_federation(workdir / "pki") if self.tls else {}
        self.transport = Transport.from_dir(self.pki["operator"]) if self.tls else Transport.insecure()
        self.coord_port, self.agg_port = P.free_port(), P.free_port()
        self.enroll_address = f"127.0.0.1:{P.free_port()}"
        self.metrics_port = P.free_port()
        self.admin_token = workdir / "admin.token"
        self.coordinator = f"127.0.0.1:{self.coord_port}"
        self.aggregator = f"127.0.0.1:{self.agg_port}"
        self.coord_proxy = CapturingProxy(self.coord_port) if proxy else None
        self.agg_proxy = CapturingProxy(self.agg_port) if proxy else None
        site_coord = self.coord_proxy.address if proxy else self.coordinator
        self.sites, self.model_config = prepare_federation("ml-100k", n_sites, workdir, site_coord, max_users, seed,
                                                           max_seq_len=20, max_targets_per_user=10,
                                                           enroll_address=self.enroll_address if self.tls else "",
                                                           user_features=user_features, model_overrides=model_overrides)
        for site in self.sites:  # extra site.toml lines, e.g. a site's privacy settings
            extra = (site_config or {}).get(site.site_id) or (site_config or {}).get("*", "")
            if extra:
                site.config_path.write_text(site.config_path.read_text() + extra + "\n")
        self.registry = workdir / "registry"
        self.reconnect_grace_s = reconnect_grace_s
        self.services: dict[str, subprocess.Popen] = {}
        self.agents: dict[str, subprocess.Popen] = {}

    def flags(self, name: str) -> list[str]:
        return P.transport_flags(self.pki.get(name))

    def start_aggregator(self):
        self.services["aggregator"] = P.start("aggregator.main", ["--listen", self.aggregator, "--registry",
                                                                  str(self.registry), *self.flags("aggregator")],
                                              self.workdir / "aggregator.log")
        P.wait_healthy(self.aggregator, self.transport, proc=self.services["aggregator"])

    def coordinator_argv(self, listen: str = "", enroll: str = "", db: Path | None = None,
                         metrics_port: int | None = None) -> list[str]:
        """The coordinator's flags; the overrides start a second one beside it."""
        public = self.agg_proxy.address if self.agg_proxy else self.aggregator
        return [
            "--listen", listen or self.coordinator, "--db", str(db or self.workdir / "coordinator.db"), "--registry",
            str(self.registry), "--aggregator", self.aggregator, "--aggregator-public", public,
            "--init-model", str(self.workdir / "model_config.json"), "--catalog", str(self.workdir / "catalog"),
            "--audit-key", str(self.workdir / "audit.key"),
            "--admin-token-file", str(self.admin_token), "--enroll-listen", enroll or self.enroll_address,
            "--ca-dir", str(self.workdir / "pki" / "ca"), *self.flags("coordinator"),
            "--reconnect-grace-s", str(self.reconnect_grace_s),
            "--metrics-port", str(self.metrics_port if metrics_port is None else metrics_port)]

    def start_coordinator(self):
        self.services["coordinator"] = P.start("coordinator.main", self.coordinator_argv(),
                                               self.workdir / "coordinator.log")
        P.wait_healthy(self.coordinator, self.transport, proc=self.services["coordinator"])

    def start(self):
        self.start_aggregator()
        self.start_coordinator()
        for s in self.sites:
            self.enroll(s.site_id)
            self.start_agent(s.site_id)
        self.wait_online(len(self.sites))
        return self

    def enroll(self, site_id: str):
        folder = next(s for s in self.sites if s.site_id == site_id).folder
        self.ctl("enroll", "--site", site_id, "--token-file", str(folder / "enrollment.token"),
                 *(["--ca-file", str(folder / "ca.crt")] if self.tls else []))

    def start_agent(self, site_id: str):
        spec = next(s for s in self.sites if s.site_id == site_id)
        self.agents[site_id] = P.start("client_agent.main", ["--config", str(spec.config_path)],
                                       self.workdir / f"{site_id}.log", threads=1)

    def kill_agent(self, site_id: str):
        proc = self.agents.pop(site_id)
        proc.kill()
        proc.wait()

    def ctl(self, *args, check=True):
        return P.ctl(self.coordinator, "--admin-token-file", str(self.admin_token), *self.flags("operator"), *args,
                     check=check)

    def ctl_json(self, *args):
        return json.loads(self.ctl("--json", *args).stdout)

    def wait_online(self, n: int, timeout: float = 90.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if sum(c["online"] for c in self.ctl_json("clients")) >= n:
                return
            time.sleep(0.3)
        raise TimeoutError(f"fewer than {n} sites online after {timeout}s")

    def wait_round(self, round_id: int, timeout: float = 180.0, states=("COMPLETED", "FAILED")) -> dict:
        deadline = time.time() + timeout
        while time.time() < deadline:
            info = self.ctl_json("round", str(round_id))
            if info["state"] in states:
                return info
            time.sleep(0.3)
        raise TimeoutError(f"round {round_id} not in {states} after {timeout}s")

    def metrics(self) -> str:
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as resp:
            return resp.read().decode()

    def stop(self):
        P.stop(list(self.agents.values()) + list(self.services.values()))
        for proxy in (self.coord_proxy, self.agg_proxy):
            if proxy:
                proxy.close()


def wait_until(predicate, timeout: float = 60.0, what: str = "condition"):
    """Poll predicate every 0.2 s until it returns something true (returned), or raise after timeout s."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise TimeoutError(f"{what} not reached in {timeout:.0f}s")


PRIVATE_ROWS = ("user_emb", "ffn_down", "ffn_up")


def assert_private_rows_not_sent(site_folder: Path, wire: bytes, names=PRIVATE_ROWS) -> int:
    """Every non-zero row of the site's private tensors `names` is absent from the captured bytes; returns
    how many rows were checked."""
    import numpy as np
    from safetensors.torch import load_file

    private = load_file(str(Path(site_folder) / "state" / "private.safetensors"))
    checked = 0
    for name in names:
        for row in private[name].numpy().reshape(-1, private[name].shape[-1]):
            if np.any(row != 0):
                assert row.astype("<f4").tobytes() not in wire, f"{Path(site_folder).name} leaked a row of {name}"
                checked += 1
    return checked

"""Starting FedAds services as separate local processes and waiting for them to be healthy."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from fedads.runtime.tls import Transport

REPO_ROOT = Path(__file__).resolve().parent.parent


_handed_out: set[int] = set()
_handed_out_lock = threading.Lock()


def free_port() -> int:
    """A loopback port nothing listens on now, and never one this process was given before.

    The port is released before the service that will listen on it starts, and the kernel may offer a
    released port to the very next bind to port 0: two services (or a service and a test's proxy) were
    once given the same port. Any port chosen here and bound later (by a child, a proxy) should come from here.
    """
    with _handed_out_lock:
        while True:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            if port not in _handed_out:
                _handed_out.add(port)
                return port


def child_env(threads: int | None = None) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH", "")]))
    env["PYTHONUNBUFFERED"] = "1"
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    return env


def start(module: str, args: list[str], log_path: Path, threads: int | None = None) -> subprocess.Popen:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "ab")
    return subprocess.Popen([sys.executable, "-m", module, *args], stdout=log, stderr=subprocess.STDOUT,
                            env=child_env(threads), cwd=REPO_ROOT)


def wait_healthy(address: str, transport: Transport, timeout: float = 60.0,
                 proc: subprocess.Popen | None = None) -> None:
    deadline = time.time() + timeout
    with transport.channel(address) as ch:
        stub = health_pb2_grpc.HealthStub(ch)
        while time.time() < deadline:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"service for {address} exited with code {proc.returncode}")
            try:
                if stub.Check(health_pb2.HealthCheckRequest(), timeout=1).status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                time.sleep(0.2)
    raise TimeoutError(f"service at {address} not healthy after {timeout:.0f}s")


def stop(procs: list[subprocess.Popen], timeout: float = 10.0) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    deadline = time.time() + timeout
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def transport_flags(tls_dir: Path | None) -> list[str]:
    """Command-line flags giving a service or coordinatorctl its identity folder, or plaintext."""
    return ["--tls-dir", str(tls_dir)] if tls_dir else ["--insecure"]


def ctl(coordinator: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "coordinator.ctl", "--coordinator", coordinator, *args]
    res = subprocess.run(cmd, capture_output=True, text=True, env=child_env(), cwd=REPO_ROOT)
    if check and res.returncode != 0:
        raise RuntimeError(f"coordinatorctl {' '.join(args)} failed: {res.stderr.strip()}")
    return res

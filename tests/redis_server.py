"""A throwaway redis-server on a loopback port, for tests."""
from __future__ import annotations

import shutil
import subprocess
import time

import redis

from deploy.processes import free_port


class RedisServer:
    def __init__(self, workdir):
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed; run `apt-get install -y redis-server` "
                               "(the Makefile's test target does this)")
        self.port = free_port()
        self.proc = subprocess.Popen([binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", str(workdir)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"redis://127.0.0.1:{self.port}/0"
        deadline = time.time() + 10
        while True:
            try:
                redis.Redis.from_url(self.url).ping()
                return
            except redis.ConnectionError:
                if time.time() > deadline:
                    self.stop()
                    raise
                time.sleep(0.05)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(5)

"""A throwaway PostgreSQL cluster on a loopback port (Debian's postgresql, run as the postgres user)."""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time

from deploy.processes import free_port


def _tool(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if found is None:
        raise RuntimeError(f"{name} not found: install PostgreSQL (apt-get install -y postgresql)")
    return found


def _as_postgres(cmd: list[str]) -> list[str]:
    cmd = [_tool(cmd[0]), *cmd[1:]]
    if os.geteuid() == 0:  # postgres refuses to run as root
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


class PostgresServer:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="fedads-pg-")
        os.chmod(self.dir, 0o777)
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        subprocess.run(_as_postgres(["initdb", "-D", self.data, "-U", "fedads", "--auth=trust", "-E", "UTF8"]),
                       check=True, capture_output=True)
        subprocess.run(_as_postgres(["pg_ctl", "-D", self.data, "-l", os.path.join(self.dir, "log"), "-w", "-o",
                                     f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1", "start"]),
                       check=True, capture_output=True)
        self.url = f"postgresql+psycopg2://fedads@127.0.0.1:{self.port}/postgres"
        deadline = time.time() + 20
        import sqlalchemy

        while True:
            try:
                with sqlalchemy.create_engine(self.url).connect():
                    return
            except sqlalchemy.exc.OperationalError:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)

    def database(self, name: str) -> str:
        import sqlalchemy

        engine = sqlalchemy.create_engine(self.url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        return self.url.rsplit("/", 1)[0] + f"/{name}"

    def stop(self):
        subprocess.run(_as_postgres(["pg_ctl", "-D", self.data, "-m", "immediate", "stop"]), capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)

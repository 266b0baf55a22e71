import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.helpers import Federation  # noqa: E402


@pytest.fixture
def federation_factory(tmp_path):
    feds = []

    def make(**kwargs) -> Federation:
        fed = Federation(tmp_path / f"fed{len(feds)}", **kwargs)
        feds.append(fed)
        return fed

    yield make
    for fed in feds:
        fed.stop()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    from tests.redis_server import RedisServer

    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def postgres():
    from tests.postgres_server import PostgresServer

    server = PostgresServer()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'coordinator.db'}"
    return request.getfixturevalue("postgres").database(f"t{abs(hash(request.node.name)) % 10**8}")

"""Degrade, don't die: serving starts on the newest intact version when the newest weights are corrupt, and
a coordinator whose registry holds a corrupt old manifest starts, quarantines it and names it."""
from __future__ import annotations

import json

from deploy import processes as P
from fedads.runtime.registry import ModelRegistry
from fedads.runtime.server import channel
from fedads.v1 import serving_pb2 as spb
from fedads.v1 import serving_pb2_grpc


def test_bad_files_are_set_aside_and_the_services_start(federation_factory):
    fed = federation_factory(n_sites=2).start()
    for _ in range(2):
        info = json.loads(fed.ctl("--json", "start-round", "--wait", "--min-sites", "2").stdout)
        assert info["state"] == "COMPLETED"
    registry = ModelRegistry(fed.registry)
    newest = info["result_version"]
    assert registry.versions() == [1, newest - 1, newest]
    (fed.registry / f"v{newest:06d}" / "model.safetensors").write_bytes(b"torn write")

    port = P.free_port()
    fed.services["serving"] = P.start("serving.main", [
        "--listen", f"127.0.0.1:{port}", "--registry", str(fed.registry),
        "--audit-public-key", str(fed.workdir / "audit.pub"), *fed.flags("serving")], fed.workdir / "serving.log")
    P.wait_healthy(f"127.0.0.1:{port}", fed.transport, proc=fed.services["serving"])
    stub = serving_pb2_grpc.ServingServiceStub(channel(f"127.0.0.1:{port}", fed.transport))
    assert stub.Predict(spb.PredictRequest(user_id="u", candidates=first_ads(fed)), timeout=30).model_version == newest - 1
    refused = [json.loads(x) for x in (fed.workdir / "serving.log").read_text().splitlines()
               if x.startswith("{") and "model version refused" in x]
    assert [r["version"] for r in refused] == [newest] and "sha256" in refused[0]["reason"]

    P.stop([fed.services.pop("coordinator")])
    (fed.registry / "v000001" / "manifest.json").write_text("{not json")
    fed.start_coordinator()
    res = fed.ctl("--json", "models")
    assert [m["version"] for m in json.loads(res.stdout)] == [newest - 1, newest]
    assert "quarantined v000001: manifest unreadable (JSONDecodeError" in res.stderr, res.stderr
    log = (fed.workdir / "coordinator.log").read_text()
    assert "model version quarantined" in log and "v000001" in log
    assert (fed.registry / ".quarantine").is_dir() and not (fed.registry / "v000001").exists()


def first_ads(fed, n: int = 2) -> list:
    """Candidates naming the federation catalogue's first ads."""
    from fedads.catalog.catalog import Catalog
    from fedads.v1 import serving_pb2 as spb

    return [spb.Candidate(ad_id=a) for a in Catalog.load(fed.workdir / "catalog").ad_ids()[:n]]

"""Container and cluster files agree with the programs: every command, flag, port and variable checked."""
from __future__ import annotations

import json
import tempfile
import re
import socket
import tomllib
from pathlib import Path

import pytest
import yaml

from coordinator.catalog_setup import model_config_for
from client_agent.config import SiteConfig
from deploy.processes import free_port

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
PROGRAMS = {"coordinator": "coordinator.main", "aggregator": "aggregator.main", "serving": "serving.main",
            "client-agent": "client_agent.main"}


def _parser(program: str):
    module = __import__(PROGRAMS[program], fromlist=["build_parser"])
    return module.build_parser()


def _k8s_containers():
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            spec = (doc or {}).get("spec", {}).get("template", {}).get("spec", {})
            for c in spec.get("containers", []):
                if c["image"].startswith("fedads:"):
                    yield path.name, c


def _compose_services():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return {name: svc for name, svc in compose["services"].items() if svc.get("image", "").startswith("fedads:")}


def _parse(program: str, argv: list[str], env: dict[str, str]):
    resolved = [re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], a) for a in argv]
    return _parser(program).parse_args(resolved)  # SystemExit on any flag the program does not have


def test_kubernetes_commands_flags_ports_and_probes_match_the_programs():
    seen = set()
    for name, c in _k8s_containers():
        program = c["command"][0]
        env = {e["name"]: "postgresql://placeholder" for e in c.get("env", [])}
        args = _parse(program, c["command"][1:] + c.get("args", []), env)
        ports = {p["containerPort"] for p in c["ports"]}
        listen_port = int(args.listen.rsplit(":", 1)[1])
        health_port = int(args.health_listen.rsplit(":", 1)[1])
        assert {listen_port, health_port, args.metrics_port} <= ports, name
        assert args.metrics_host == "0.0.0.0", f"{name}: metrics must be reachable from outside the pod"
        for probe in ("readinessProbe", "livenessProbe"):
            # the mTLS port would refuse the kubelet: probes use the plaintext health-only endpoint
            assert c[probe]["grpc"]["port"] == health_port, f"{name}: {probe} must hit the health endpoint"
        mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
        assert args.tls_dir in mounts and not args.insecure, f"{name}: services run mTLS in the cluster"
        if program == "coordinator":
            assert args.ca_dir in mounts and int(args.enroll_listen.rsplit(":", 1)[1]) in ports
        if program == "serving":
            # serving checks every version's signature with the audit public key, mounted alone
            key_dir = str(Path(args.audit_public_key).parent)
            assert key_dir in mounts and mounts[key_dir] != "audit-key", name
        seen.add(program)
    assert seen == {"coordinator", "aggregator", "serving"}


def test_kubernetes_objects_reference_what_exists():
    docs = [d for p in sorted((DEPLOY / "k8s").glob("*.yaml")) for d in yaml.safe_load_all(p.read_text()) if d]
    names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    for d in docs:
        spec = d.get("spec", {}).get("template", {}).get("spec", {})
        for v in spec.get("volumes", []):
            if "persistentVolumeClaim" in v:
                assert ("PersistentVolumeClaim", v["persistentVolumeClaim"]["claimName"]) in names
            if "configMap" in v:
                assert ("ConfigMap", v["configMap"]["name"]) in names
            if "secret" in v:
                assert ("Secret", v["secret"]["secretName"]) in names
        for c in spec.get("containers", []):
            for e in c.get("env", []):
                ref = e.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ("Secret", ref["name"]) in names
    hpa = next(d for d in docs if d["kind"] == "HorizontalPodAutoscaler")
    assert ("Deployment", hpa["spec"]["scaleTargetRef"]["name"]) in names
    model = next(d for d in docs if d["kind"] == "ConfigMap")
    assert "n_items" not in json.loads(model["data"]["model_config.json"])  # sizes come from the catalogue
    coordinator = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "coordinator")
    assert "--catalog" in coordinator["spec"]["template"]["spec"]["containers"][0]["args"]


def test_compose_services_use_real_flags_and_site_configs_load():
    services = _compose_services()
    assert {"coordinator", "aggregator", "serving", "site-01", "site-02"} <= set(services)
    for name, svc in services.items():
        program, *argv = svc["command"]
        args = _parse(program, argv, {})
        if program == "client-agent":
            mount = next(v for v in svc["volumes"] if v.endswith(":/etc/fedads/site.toml:ro"))
            site = SiteConfig.load(DEPLOY / mount.split(":")[0].removeprefix("./"))
            assert site.coordinator == "coordinator:7000" and site.dp_clip_norm > 0
            assert not site.insecure and site.enroll_address == "coordinator:7001" and site.ca_file
        else:
            listen_port = args.listen.rsplit(":", 1)[1]
            assert any(p.endswith(f":{listen_port}") for p in svc.get("ports", [])), name
            assert any(v.endswith(f":{args.tls_dir}:ro") for v in svc["volumes"]) and not args.insecure, name
    from tests.catalogs import tiny_catalog
    with tempfile.TemporaryDirectory() as tmp:
        sized = model_config_for(DEPLOY / "config" / "model_config.json", tiny_catalog(Path(tmp), 10))
    # Sizes come from the catalogue: its ads, and a table per categorical or numeric ad feature.
    assert sized.n_items == 10 and [f["name"] for f in sized.features] == ["category", "brand", "price"]
    assert services["coordinator"]["command"].count("--catalog") == 1
    # serving reads the public key the coordinator writes, from a volume without the private key
    coordinator = _parse("coordinator", services["coordinator"]["command"][1:], {})
    serving = _parse("serving", services["serving"]["command"][1:], {})
    assert serving.audit_public_key == coordinator.audit_public_out
    volume_of = lambda svc, path: next(v.split(":")[0] for v in services[svc]["volumes"]
                                       if v.split(":")[1] == str(Path(path).parent))
    assert volume_of("serving", serving.audit_public_key) == volume_of("coordinator", coordinator.audit_public_out)
    assert volume_of("serving", serving.audit_public_key) != volume_of("coordinator", coordinator.audit_key)


def test_dockerfile_is_multi_stage_non_root_and_uses_the_console_scripts():
    text = (DEPLOY / "docker" / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", text, re.M)) >= 2
    user = re.findall(r"^USER (\S+)", text, re.M)
    assert user and user[-1] not in ("root", "0")
    assert "gen_proto.py --check" in text
    scripts = tomllib.loads((DEPLOY.parent / "pyproject.toml").read_text())["project"]["scripts"]
    for program in PROGRAMS:
        assert program in scripts
    for d in ["proto", "fedads", "admodels", "coordinator", "aggregator", "client_agent", "privacy", "serving"]:
        assert f"COPY {d} {d}" in text or d == "proto" and "COPY proto proto" in text


@pytest.mark.parametrize("program", sorted(PROGRAMS))
def test_every_program_exposes_metrics_flags(program):
    actions = {a for act in _parser(program)._actions for a in act.option_strings}
    assert {"--metrics-port", "--metrics-host", "--help"} <= actions


def test_demo_launcher_reads_the_deployed_model_config():
    from deploy.demo import build_parser as demo_parser

    default = demo_parser().parse_args([]).model_config
    assert default.resolve() == (DEPLOY / "config" / "model_config.json").resolve()
    k8s = next(d for p in sorted((DEPLOY / "k8s").glob("*.yaml")) for d in yaml.safe_load_all(p.read_text())
               if d and d["kind"] == "ConfigMap")
    assert json.loads(k8s["data"]["model_config.json"]) == json.loads(default.read_text())


def test_free_port_never_hands_out_a_port_twice():
    """The kernel offers a just-released port again to the next bind to port 0 (2,000 plain binds repeat
    ~130 ports here); the launcher and the tests start services on these ports a moment later."""
    ports = [free_port() for _ in range(2000)]
    assert len(set(ports)) == len(ports)
    with socket.socket() as s:  # and each is really free: a listener can take it
        s.bind(("127.0.0.1", ports[-1]))

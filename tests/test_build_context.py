"""No key, token or data file can reach an image: the build context .dockerignore leaves, computed
statically (no docker daemon), holds none, even with them planted where operators are told to put them."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

from deploy.build_context import context_files, copy_sources

ROOT = Path(__file__).resolve().parent.parent
SECRET = re.compile(r"(^|/)(pki|state)/|(^|/)data/(?!.*\.py$)|\.(key|pem|crt|token|pub|db|csv)$|(^|/)(\.venv|reports|bench)/")

PLANTED = ["deploy/pki/ca/ca.key", "deploy/pki/ca/ca.crt", "deploy/pki/coordinator/tls.key",
           "deploy/site/data/site-01/interactions.csv", "deploy/site/data/site-01/enrollment.token",
           "deploy/site/data/site-01/state/tls/site.pem", "admin.token", "audit.key", "audit.pub", "coordinator.db",
           "kit-site-01/enrollment.token", "kit-site-01/ca.crt", "kit-site-01/data/interactions.csv",
           ".venv/bin/python", "reports/accuracy.md", "bench/accuracy.py", ".demo/registry/v1/model.safetensors",
           "coordinator/__pycache__/main.cpython-311.pyc"]


def test_planted_secrets_and_data_stay_out_of_the_context(tmp_path):
    shutil.copy(ROOT / ".dockerignore", tmp_path / ".dockerignore")
    for rel in PLANTED + ["coordinator/main.py", "deploy/demo.py", "admodels/data/sequences.py", "requirements.txt"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    files = context_files(tmp_path)
    assert not set(PLANTED) & set(files)
    assert {"coordinator/main.py", "deploy/demo.py", "admodels/data/sequences.py", "requirements.txt"} <= set(files)


def test_repository_context_holds_what_the_image_copies_and_nothing_secret():
    files = context_files(ROOT)
    leaked = [f for f in files if SECRET.search(f)]
    assert leaked == []
    sources = copy_sources(ROOT / "deploy" / "docker" / "Dockerfile")
    for src in sources:  # every COPY finds its files in the context, so the build works
        assert any(f == src or f.startswith(src + "/") for f in files), src
    assert "deploy" not in sources and "bench" not in sources and "reports" not in sources
    assert not [s for s in sources if s in ("deploy/pki", "deploy/site") or s.startswith(("deploy/pki/", "deploy/site/"))]

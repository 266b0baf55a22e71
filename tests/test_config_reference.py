"""docs/configuration.md is generated from the code's own defaults and must match it."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_configuration_reference_is_current():
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEDADS_")}  # defaults, not this shell's
    res = subprocess.run([sys.executable, "scripts/gen_config_reference.py", "--check"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    text = (ROOT / "docs" / "configuration.md").read_text()
    # The table really comes from the code: a default changed in client_agent/config.py would show here.
    from client_agent.config import SiteConfig

    assert f"| `eval_negatives` | `{SiteConfig.__dataclass_fields__['eval_negatives'].default}` |" in text
    assert "#### coordinatorctl run" in text and "`--lr-schedule`" in text

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_generated_code_matches_the_protos():
    res = subprocess.run([sys.executable, "scripts/gen_proto.py", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "in sync" in res.stdout


def test_check_detects_a_hand_edit(tmp_path):
    target = ROOT / "fedads" / "v1" / "common_pb2.pyi"
    original = target.read_bytes()
    try:
        target.write_bytes(original + b"\n# edited by hand\n")
        res = subprocess.run([sys.executable, "scripts/gen_proto.py", "--check"], cwd=ROOT, capture_output=True,
                             text=True)
        assert res.returncode == 1 and "common_pb2.pyi" in res.stderr
    finally:
        target.write_bytes(original)

"""Named pause points that make a crash window deterministic for kill -9 tests, off unless armed.

`pause(ENV)` does nothing unless the environment variable ENV names a file that exists (the arming file).
Then it removes that file (so it fires once), writes `<file>.reached` and blocks until `<file>.release`
exists or `timeout_s` passes. A test arms the file, waits for `.reached`, kills the process or lets it go.
"""
from __future__ import annotations

import os
import time
from pathlib import Path


def pause(env: str, note: str = "", timeout_s: float = 300.0) -> None:
    armed = os.environ.get(env)
    if not armed:
        return
    path = Path(armed)
    try:
        path.unlink()
    except FileNotFoundError:
        return
    Path(f"{path}.reached").write_text(note)
    release = Path(f"{path}.release")
    deadline = time.monotonic() + timeout_s
    while not release.exists() and time.monotonic() < deadline:
        time.sleep(0.05)  # polled by a process that only waits here; nothing else to wake it

"""The shared command-line pieces: one line instead of a traceback, and logs as JSON lines only when no
person reads them on a terminal."""
from __future__ import annotations

import io
import json
import logging

from fedads.runtime import cli
from fedads.runtime.logs import setup_logging


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_unhandled_error_is_one_line_and_exit_1(capsys):
    def boom() -> int:
        raise FileNotFoundError("[Errno 2] No such file or directory: 'model_config.json'\nsecond line")

    assert cli.run("prog", boom) == 1
    err = capsys.readouterr().err
    assert err == "prog: error: [Errno 2] No such file or directory: 'model_config.json'\n"


def test_logs_are_json_lines_off_a_terminal_and_readable_on_one():
    pipe, tty = io.StringIO(), _Terminal()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        setup_logging("svc", "INFO", stream=pipe)
        logging.getLogger("x").info("round started", extra={"round_id": 7})
        setup_logging("svc", "INFO", stream=tty)
        logging.getLogger("x").info("round started", extra={"round_id": 7})
    finally:
        root.handlers[:], root.level = handlers, level
    entry = json.loads(pipe.getvalue())
    assert entry["msg"] == "round started" and entry["round_id"] == 7 and entry["service"] == "svc"
    line = tty.getvalue().strip()
    assert "round started" in line and "round_id=7" in line and not line.startswith("{")

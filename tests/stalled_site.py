"""A real site agent whose upload stalls after a few messages: lets a test kill -9 a site mid-upload.

Only the upload generator is replaced (smaller chunks, then a pause announced through a marker file);
enrolment, training, DP, masking and the SecAgg stages are the agent's own.
"""
from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

import client_agent.agent as agent_module
from client_agent.main import main as agent_main

ap = argparse.ArgumentParser()
ap.add_argument("--config", required=True)
ap.add_argument("--marker", required=True, type=Path)
ap.add_argument("--after-messages", type=int, default=3)
args = ap.parse_args()
real_upload_stream = agent_module.upload_stream


def stalling_upload_stream(*a, **kw):
    from fedads.v1 import aggregator_pb2 as apb

    header, *rest = list(real_upload_stream(*a, **kw))
    data = b"".join(m.data for m in rest)
    pieces = [header] + [apb.UpdateChunk(data=data[i:i + 16384]) for i in range(0, len(data), 16384)]
    assert len(pieces) > args.after_messages + 1, "upload too small to stall in the middle"
    yield from pieces[:args.after_messages]
    args.marker.write_text(f"{args.after_messages} of {len(pieces)} messages sent\n")
    threading.Event().wait()  # until kill -9


agent_module.upload_stream = stalling_upload_stream
sys.exit(agent_main(["--config", args.config]))

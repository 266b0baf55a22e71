"""`client-agent`: the daemon a partner site runs."""
from __future__ import annotations

import argparse
import logging
import signal
import sys

from client_agent.agent import AgentStopped, SiteAgent
from client_agent.config import ConfigError, SiteConfig
from fedads.runtime import cli
from fedads.runtime.logs import setup_logging
from fedads.runtime.server import add_metrics_flags, start_metrics_server

log = logging.getLogger("client_agent")


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser("client-agent", "Run a FedAds site: train on local data, share only masked-ready updates.")
    p.add_argument("--config", required=True, help="site TOML file (site_id, coordinator, data_file, state_dir, ...)")
    p.add_argument("--max-tasks", type=int, default=None, help="exit after this many tasks (none: run forever)")
    add_metrics_flags(p)
    p.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    return p


def main(argv=None) -> int:
    return cli.run("client-agent", lambda: _main(argv))


def _main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging("client-agent", args.log_level)
    try:
        agent = SiteAgent(SiteConfig.load(args.config))
    except (ConfigError, ValueError, FileNotFoundError) as exc:
        print(f"client-agent: error: {exc}", file=sys.stderr)
        return 2
    log.info("site agent starting", extra={"site": agent.config.site_id,
                                           "writes": {"state": str(agent.config.state_dir)}})
    start_metrics_server(args.metrics_port, args.metrics_host)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: agent.stop())
    try:
        agent.run(args.max_tasks)
    except AgentStopped as exc:
        print(f"client-agent: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

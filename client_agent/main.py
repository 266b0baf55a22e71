"""`client-agent`: the daemon a partner site runs."""
from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path

import grpc

from client_agent.agent import AgentStopped, SiteAgent
from client_agent.config import ConfigError, SiteConfig
from client_agent.data_check import check_site, render
from fedads.catalog.catalog import Catalog, CatalogError
from fedads.eventlog.reader import EventLogError
from fedads.runtime import cli
from fedads.runtime.logs import setup_logging
from fedads.runtime.server import add_metrics_flags, start_metrics_server

log = logging.getLogger("client_agent")


def check_parser() -> argparse.ArgumentParser:
    p = cli.parser("client-agent check", "Check the site's event log against the catalogue before going online.")
    p.add_argument("--config", required=True, help="site TOML file")
    p.add_argument("--catalog", type=Path, default=None,
                   help="catalogue folder to check against (default: the config's catalog, else the federation's "
                        "newest, fetched from the coordinator)")
    p.add_argument("--json", action="store_true", help="print the counts and findings as one JSON object")
    return p


def run_check(argv) -> int:
    args = check_parser().parse_args(argv)
    try:
        config = SiteConfig.load(args.config)
        folder = args.catalog or config.catalog
        if folder is not None:
            report = check_site(config, Catalog.load(folder))
        else:
            agent = SiteAgent(config)
            agent.ensure_enrolled()
            report = check_site(config, agent.catalogs.get(0), agent.trainer.events)
    except (ConfigError, CatalogError, EventLogError, AgentStopped) as exc:
        print(f"client-agent check: {exc}", file=sys.stderr)
        return 2
    except grpc.RpcError as exc:
        print(f"client-agent check: could not fetch the catalogue: {exc.code().name}: {exc.details()}",
              file=sys.stderr)
        return 2
    print(json.dumps(report.counts()) if args.json else render(report))
    return 0 if report.ok else 1


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser("client-agent", "Run a FedAds site: train on local data, share only masked-ready updates.")
    p.add_argument("--config", required=True, help="site TOML file (site_id, coordinator, data, state_dir, ...); "
                                                   "`client-agent check --config FILE` checks the data first")
    p.add_argument("--max-tasks", type=int, default=None, help="exit after this many tasks (none: run forever)")
    add_metrics_flags(p)
    p.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    return p


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["check"]:
        return cli.run("client-agent check", lambda: run_check(argv[1:]))
    return cli.run("client-agent", lambda: _main(argv))


def _main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging("client-agent", args.log_level)
    try:
        agent = SiteAgent(SiteConfig.load(args.config))
    except (ConfigError, EventLogError, ValueError, FileNotFoundError) as exc:
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

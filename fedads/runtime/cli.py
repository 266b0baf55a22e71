"""What every FedAds program's command line shares: --version, defaults in --help, --json after the
subcommand, and one line on stderr (never a traceback) when it fails."""
from __future__ import annotations

import argparse
import sys
from importlib import metadata
from typing import Callable


def version() -> str:
    try:
        return metadata.version("fedads")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "0.1.0"


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Shows each option's default, except where there is none to show (flags, required options); keeps
    descriptions as written."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if "%(default)" in text or default is None or default is False or default == "" \
                or default is argparse.SUPPRESS or action.required or not action.option_strings and action.nargs is None:
            return text
        return text + " (default: %(default)s)"


def parser(prog: str, description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=description, formatter_class=HelpFormatter)
    p.add_argument("--version", action="version", version=f"{prog} {version()}")
    return p


def subparsers(p: argparse.ArgumentParser, json_flag: bool = False, **kwargs):
    """Subcommands whose --help shows defaults too; with json_flag each also accepts --json after it."""
    sub = p.add_subparsers(**kwargs)
    add = sub.add_parser

    def add_parser(name, **kw):
        child = add(name, formatter_class=HelpFormatter, **kw)
        if json_flag:
            child.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                               help="machine-readable output (also accepted before the subcommand)")
        return child

    sub.add_parser = add_parser
    return sub


def run(prog: str, main: Callable[[], int]) -> int:
    """Run main(); any error it did not handle becomes one line on stderr and exit status 1."""
    try:
        return main()
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except SystemExit:
        raise
    except Exception as exc:  # noqa: BLE001 - a person reads this, not a debugger
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"{prog}: error: {message}", file=sys.stderr)
        return 1

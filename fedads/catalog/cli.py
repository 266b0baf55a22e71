"""`fedads-catalog`: build, grow, show and verify ad catalogues."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from fedads.catalog.build import build_catalog, read_feed
from fedads.catalog.catalog import Catalog, CatalogError
from fedads.catalog.schema import CatalogSchema, SchemaError
from fedads.runtime import cli


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fedads-catalog", description="Build and inspect FedAds ad catalogues.",
                                formatter_class=cli.HelpFormatter)
    p.add_argument("--version", action="version", version=f"%(prog)s {cli.version()}")
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build a catalogue (or the next version of one) from an ad feed",
                       formatter_class=cli.HelpFormatter)
    b.add_argument("--ads", type=Path, required=True, help="ad feed: Parquet or CSV with a header, ad_id + features")
    b.add_argument("--schema", type=Path, default=None,
                   help="catalog.toml declaring the features (default: the parent's schema)")
    b.add_argument("--parent", type=Path, default=None,
                   help="the previous catalogue version's folder: the new one appends to it, moving no index")
    b.add_argument("--out", type=Path, required=True, help="new, empty folder for the catalogue")
    b.add_argument("--json", action="store_true", help="print the summary as JSON")
    for name, text in (("show", "print a catalogue's manifest summary"), ("verify", "check every file's sha256")):
        s = sub.add_parser(name, help=text, formatter_class=cli.HelpFormatter)
        s.add_argument("catalog", type=Path, help="catalogue folder")
        s.add_argument("--json", action="store_true", help="print as JSON")
    return p


def _print(summary: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary))
        return
    for k, v in summary.items():
        print(f"{k}: {v}")


def main(argv=None) -> int:
    return cli.run("fedads-catalog", lambda: _main(argv))


def _main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.cmd == "build":
            parent = Catalog.load(args.parent) if args.parent else None
            if args.schema is None and parent is None:
                raise SchemaError("give --schema (or --parent, whose schema the new version keeps)")
            schema = CatalogSchema.load(args.schema) if args.schema else parent.schema
            encoder = None
            if schema.text_encoder:
                from fedads.catalog.text_encoder import SentenceEncoder

                encoder = SentenceEncoder(schema.text_encoder, schema.encoder_path or None)
            catalog = build_catalog(read_feed(args.ads, schema), schema, parent, encoder).write(args.out)
            _print(catalog.summary() | {"added_ads": catalog.manifest["added_ads"], "folder": str(args.out)},
                   args.json)
        else:
            catalog = Catalog.load(args.catalog)
            _print(catalog.summary() if args.cmd == "show" else {"catalog": str(args.catalog), "ok": True,
                                                                 "sha256": catalog.sha256}, args.json)
    except (CatalogError, SchemaError, FileNotFoundError) as exc:
        print(f"fedads-catalog: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

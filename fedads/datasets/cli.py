"""`fedads-data`: convert a dataset into a catalogue plus site event logs, or fetch official files."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from fedads.catalog.catalog import CatalogError
from fedads.datasets.converted import write_federation
from fedads.datasets.fetch import FetchError, fetch
from fedads.datasets.registry import DATASETS, convert
from fedads.eventlog.reader import EventLogError
from fedads.runtime import cli


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fedads-data", description="Turn datasets into FedAds catalogues and event logs.",
                                formatter_class=cli.HelpFormatter)
    p.add_argument("--version", action="version", version=f"%(prog)s {cli.version()}")
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("convert", help="dataset → OUT/catalog + OUT/sites/<site>/data/",
                       formatter_class=cli.HelpFormatter)
    c.add_argument("dataset", choices=DATASETS)
    c.add_argument("--out", type=Path, required=True, help="output folder (new or empty)")
    c.add_argument("--sites", type=int, default=8, help="number of partner sites")
    c.add_argument("--split-by", default="",
                   help="natural key (zip_region, occupation, ...), dirichlet:ALPHA[:KEY], or user; "
                        "default: the dataset's natural key")
    c.add_argument("--max-users", type=int, default=0, help="a seeded sample of this many users (0: all)")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--source", type=Path, default=None,
                   help="a file (or, for taobao-ad, the official release's folder) instead of ../shared/data")
    c.add_argument("--embed-text", action="store_true",
                   help="embed the ads' public text (titles, genres) with the packaged sentence model")
    c.add_argument("--json", action="store_true", help="print the summary as JSON")
    f = sub.add_parser("fetch", help="download the official full files (needs network)",
                       formatter_class=cli.HelpFormatter)
    f.add_argument("dataset", choices=DATASETS)
    f.add_argument("--dest", type=Path, default=None, help="parent folder (default: the user cache's data/)")
    return p


def main(argv=None) -> int:
    return cli.run("fedads-data", lambda: _main(argv))


def _main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.cmd == "fetch":
            print(f"fetched {args.dataset} into {fetch(args.dataset, args.dest)}")
            return 0
        if args.sites < 1:
            raise ValueError("--sites must be at least 1")
        conv = convert(args.dataset, args.source)
        encoder = None
        if args.embed_text:
            from fedads.catalog.text_encoder import SentenceEncoder

            encoder = SentenceEncoder()
        catalog, parts = write_federation(conv, args.out, args.sites, args.split_by, args.seed, args.max_users,
                                          encoder=encoder)
        summary = {"dataset": conv.name, "catalog": str(args.out / "catalog"), "ads": catalog.n_ads,
                   "catalog_sha256": catalog.sha256, "interaction_only": conv.interaction_only, "notes": conv.notes,
                   "sites": [{"site": p.site_id, "users": p.users, "rows": p.rows, "folder": str(p.folder)}
                             for p in parts]}
        if args.json:
            print(json.dumps(summary))
        else:
            print(f"{conv.name}: catalogue of {catalog.n_ads} ads in {args.out / 'catalog'}")
            for p in parts:
                print(f"  {p.site_id}: {p.users} users, {p.rows} rows → {p.folder / 'data'}")
            for n in conv.notes:
                print(f"  note: {n}")
    except (FetchError, CatalogError, EventLogError, ValueError, FileNotFoundError) as exc:
        print(f"fedads-data: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

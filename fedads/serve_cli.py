"""`fedads-serve`: call FedAds serving from a shell (rank, predict, record) through fedads.client."""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from fedads.client import OBJECTIVES, ServingClient, ServingError
from fedads.runtime.tls import TransportError
from fedads.runtime import cli


def _candidates(args) -> list[str] | dict[str, float]:
    ads = [a for a in args.candidates.split(",") if a]
    if not args.bids:
        return ads
    bids = [float(b) for b in args.bids.split(",")]
    if len(bids) != len(ads):
        raise ValueError(f"--bids has {len(bids)} values for {len(ads)} candidates")
    return dict(zip(ads, bids))


def parser() -> argparse.ArgumentParser:
    fmt = cli.HelpFormatter
    p = argparse.ArgumentParser(prog="fedads-serve", description="Call FedAds serving.", formatter_class=fmt)
    p.add_argument("--version", action="version", version=f"%(prog)s {cli.version()}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--address", default="127.0.0.1:7200", help="serving address (host:port)")
    common.add_argument("--tls-dir", default=None, help="the application's mTLS folder (cert, key, CA)")
    common.add_argument("--insecure", action="store_true", help="plaintext (development servers only)")
    common.add_argument("--timeout-s", type=float, default=5.0)
    common.add_argument("--json", action="store_true", help="print the response as JSON")
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("rank", "predict"):
        s = sub.add_parser(name, parents=[common], formatter_class=fmt, help=f"{name} candidate ads for a user")
        s.add_argument("--user", required=True)
        s.add_argument("--candidates", required=True, help="comma-separated ad ids")
        s.add_argument("--bids", default="", help="comma-separated bids, one per candidate (eCPM objectives)")
        s.add_argument("--model-version", type=int, default=0, help="0: the version being served")
        if name == "rank":
            s.add_argument("--objective", default="ctr", choices=sorted(OBJECTIVES))
            s.add_argument("--k", type=int, default=0, help="top k (0: all)")
    r = sub.add_parser("record", parents=[common], formatter_class=fmt, help="record a user's clicks")
    r.add_argument("--user", required=True)
    r.add_argument("--ads", required=True, help="comma-separated ad ids, oldest first")
    return p


def main(argv=None) -> int:
    return cli.run("fedads-serve", lambda: _main(argv))


def _main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        with ServingClient(args.address, args.tls_dir, args.insecure, args.timeout_s) as client:
            if args.cmd == "record":
                n = client.record_events([(args.user, a) for a in args.ads.split(",") if a])
                print(json.dumps({"recorded": n}) if args.json else f"recorded {n} events for {args.user}")
                return 0
            if args.cmd == "rank":
                out = client.rank(args.user, _candidates(args), args.k, args.objective, args.model_version)
            else:
                out = client.predict(args.user, _candidates(args), args.model_version)
    except (ServingError, TransportError, ValueError) as exc:
        print(f"fedads-serve: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(asdict(out)))
        return 0
    print(f"model v{out.model_version}, catalogue v{out.catalog_version}, history {out.history_length}")
    print(f"{'ad_id':<24} {'pCTR':>7} {'pCVR':>7} {'pCTCVR':>7} {'score':>9} {'eCPM':>9}")
    for a in out.ads:
        print(f"{a.ad_id[:24]:<24} {a.p_ctr:7.4f} {a.p_cvr:7.4f} {a.p_ctcvr:7.4f} {a.score:9.4f} {a.ecpm:9.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

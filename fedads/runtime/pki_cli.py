"""`fedads-pki`: create the federation CA and issue service, operator and client identities.

Site certificates are not issued here: a site sends a CSR with its one-time enrolment token and the
coordinator signs it (its private key never leaves the site).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cryptography import x509

from fedads.runtime import cli
from fedads.runtime.pki import CA_CERT, ROLES, TLS_CERT, CertificateAuthority, PkiError

# Identities every federation needs; services also get SANs so callers can verify their host.
STANDARD = {"coordinator": "coordinator", "aggregator": "aggregator", "serving": "serving",
            "operator": "operator", "client": "client"}
LOCAL_SANS = ["localhost", "127.0.0.1"]


def init_federation(folder: str | Path, sans: list[str] = (), days: int = 365) -> dict[str, Path]:
    """CA in <folder>/ca and one identity folder per standard role; returns name → identity folder."""
    folder = Path(folder)
    ca = CertificateAuthority.create(folder / "ca")
    out = {}
    for name, role in STANDARD.items():
        names = [name, *LOCAL_SANS, *sans] if role in ("coordinator", "aggregator", "serving") else []
        out[name] = ca.issue(name, role, names, days).write(folder / name)
    return out


def describe(cert_path: Path) -> str:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        san = ", ".join(str(v.value) for v in sans)
    except x509.ExtensionNotFound:
        san = "-"
    return (f"subject {cert.subject.rfc4514_string()}\nissuer  {cert.issuer.rfc4514_string()}\n"
            f"serial  {cert.serial_number:x}\nvalid   {cert.not_valid_before_utc:%Y-%m-%d} .. "
            f"{cert.not_valid_after_utc:%Y-%m-%d}\nsans    {san}")


def build_parser() -> argparse.ArgumentParser:
    p = cli.parser("fedads-pki", __doc__)
    sub = cli.subparsers(p, dest="command", required=True)
    s = sub.add_parser("init", help="create the CA and coordinator/aggregator/serving/operator/client identities")
    s.add_argument("--dir", default="pki", help="output folder")
    s.add_argument("--san", action="append", default=[],
                   help="extra DNS name or IP of the services (repeatable; localhost and 127.0.0.1 always)")
    s.add_argument("--days", type=int, default=365, help="validity of the issued certificates")
    s = sub.add_parser("issue", help="issue one more identity from an existing CA")
    s.add_argument("--dir", default="pki", help="folder holding ca/")
    s.add_argument("--name", required=True, help="common name of the identity")
    s.add_argument("--role", required=True, choices=[r for r in ROLES if r != "site"])
    s.add_argument("--san", action="append", default=[], help="DNS name or IP (services; repeatable)")
    s.add_argument("--days", type=int, default=365, help="validity of the certificate")
    s.add_argument("--out", default="", help="identity folder (empty: <dir>/<name>)")
    s = sub.add_parser("show", help="print a certificate's subject, serial, validity and names")
    s.add_argument("path", help="a certificate file, or an identity folder (shows its tls.crt)")
    return p


def main(argv=None) -> int:
    return cli.run("fedads-pki", lambda: _main(argv))


def _main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "init":
            made = init_federation(args.dir, args.san, args.days)
            print(f"CA in {Path(args.dir) / 'ca'} (keep ca.key secret); identities: "
                  + ", ".join(f"{n} → {p}" for n, p in made.items()))
        elif args.command == "issue":
            ca = CertificateAuthority.load(Path(args.dir) / "ca")
            sans = [*LOCAL_SANS, *args.san] if args.role in ("coordinator", "aggregator", "serving") else args.san
            out = ca.issue(args.name, args.role, sans, args.days).write(args.out or Path(args.dir) / args.name)
            print(f"{args.role} identity {args.name!r} written to {out}")
        else:
            path = Path(args.path)
            print(describe(path / TLS_CERT if path.is_dir() and (path / TLS_CERT).exists()
                           else path / CA_CERT if path.is_dir() else path))
    except (PkiError, OSError, ValueError) as exc:
        print(f"fedads-pki: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

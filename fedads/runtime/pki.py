"""The federation's certificate authority: x509 certificates for services, operators and sites.

One CA per federation, held by the coordinator. Every certificate names its holder in the common
name and its role in the organisational unit; the subject's serialNumber attribute repeats the
certificate's serial so a server can bind a connection to the exact certificate it issued (gRPC
hands servers the peer's subject, not the certificate). Keys are ECDSA P-256: what every TLS stack
accepts for both server and client authentication.

A folder holding one identity uses the Kubernetes TLS-secret names: ca.crt, tls.crt, tls.key.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ROLES = ("site", "coordinator", "aggregator", "serving", "operator", "client")
CA_CERT, TLS_CERT, TLS_KEY = "ca.crt", "tls.crt", "tls.key"
CA_KEY = "ca.key"


class PkiError(ValueError):
    pass


@dataclass(frozen=True)
class Identity:
    """One issued identity as PEM bytes: what a service or site loads to speak mTLS."""
    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes

    def write(self, folder: str | Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / CA_CERT).write_bytes(self.ca_pem)
        (folder / TLS_CERT).write_bytes(self.cert_pem)
        write_private(folder / TLS_KEY, self.key_pem)
        return folder

    @classmethod
    def read(cls, folder: str | Path) -> "Identity":
        folder = Path(folder)
        missing = [n for n in (CA_CERT, TLS_CERT, TLS_KEY) if not (folder / n).is_file()]
        if missing:
            raise PkiError(f"TLS folder {folder} lacks {', '.join(missing)}; create it with `fedads-pki issue`")
        return cls((folder / CA_CERT).read_bytes(), (folder / TLS_CERT).read_bytes(), (folder / TLS_KEY).read_bytes())


def write_private(path: Path, data: bytes) -> None:
    """Write a secret readable by its owner only (created 0600 before any byte is written)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def make_csr(common_name: str, key) -> bytes:
    """A certificate signing request: proves the requester holds the private key of the public key it sends."""
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
           .sign(key, hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.PEM)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _sans(names: list[str]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    for name in names:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            out.append(x509.DNSName(name))
    return out


class CertificateAuthority:
    """Creates and loads the CA (ca.crt + ca.key in one folder) and signs identities with it."""

    def __init__(self, key, cert: x509.Certificate):
        self.key, self.cert = key, cert

    @property
    def ca_pem(self) -> bytes:
        return cert_pem(self.cert)

    @classmethod
    def create(cls, folder: str | Path, name: str = "FedAds federation CA", days: int = 3650) -> "CertificateAuthority":
        folder = Path(folder)
        if (folder / CA_KEY).exists():
            raise PkiError(f"{folder / CA_KEY} already exists; refusing to replace a CA (every issued certificate "
                           "would stop working)")
        key = new_key()
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(_now() - dt.timedelta(minutes=5)).not_valid_after(_now() + dt.timedelta(days=days))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                             content_commitment=False, key_encipherment=False, data_encipherment=False,
                                             key_agreement=False, encipher_only=False, decipher_only=False),
                               critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .sign(key, hashes.SHA256()))
        folder.mkdir(parents=True, exist_ok=True)
        write_private(folder / CA_KEY, key_pem(key))
        (folder / CA_CERT).write_bytes(cert_pem(cert))
        return cls(key, cert)

    @classmethod
    def load(cls, folder: str | Path) -> "CertificateAuthority":
        folder = Path(folder)
        try:
            key = serialization.load_pem_private_key((folder / CA_KEY).read_bytes(), password=None)
            cert = x509.load_pem_x509_certificate((folder / CA_CERT).read_bytes())
        except FileNotFoundError as exc:
            raise PkiError(f"no CA in {folder}: create one with `fedads-pki init --dir {folder.parent}`") from exc
        return cls(key, cert)

    @classmethod
    def load_or_create(cls, folder: str | Path) -> "CertificateAuthority":
        folder = Path(folder)
        return cls.load(folder) if (folder / CA_KEY).exists() else cls.create(folder)

    def sign(self, common_name: str, role: str, public_key, sans: list[str] = (), days: int = 365) -> x509.Certificate:
        if role not in ROLES:
            raise PkiError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
        if not isinstance(public_key, ec.EllipticCurvePublicKey):
            raise PkiError("certificates are issued for ECDSA P-256 keys only")
        serial = x509.random_serial_number()
        subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role),
                             x509.NameAttribute(NameOID.SERIAL_NUMBER, format(serial, "x")),
                             x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        # Services are servers to their callers and clients of each other; sites, operators and
        # inference callers only ever dial out.
        usages = [ExtendedKeyUsageOID.CLIENT_AUTH]
        if role in ("coordinator", "aggregator", "serving"):
            usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(self.cert.subject)
                   .public_key(public_key).serial_number(serial)
                   .not_valid_before(_now() - dt.timedelta(minutes=5)).not_valid_after(_now() + dt.timedelta(days=days))
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                                  critical=False))
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(_sans(list(sans))), critical=False)
        return builder.sign(self.key, hashes.SHA256())

    def issue(self, common_name: str, role: str, sans: list[str] = (), days: int = 365) -> Identity:
        """A fresh key pair and certificate, for identities the operator creates (services, operators)."""
        key = new_key()
        cert = self.sign(common_name, role, key.public_key(), sans, days)
        return Identity(self.ca_pem, cert_pem(cert), key_pem(key))

    def sign_csr(self, csr_pem: bytes, common_name: str, role: str = "site", days: int = 365) -> x509.Certificate:
        """Sign a requester's key. The subject is ours to set (from the enrolment token), never the request's."""
        try:
            csr = x509.load_pem_x509_csr(csr_pem)
        except ValueError as exc:
            raise PkiError(f"certificate signing request is not a PEM CSR: {exc}") from exc
        try:
            valid = csr.is_signature_valid
        except (InvalidSignature, ValueError):
            valid = False
        if not valid:
            raise PkiError("certificate signing request's signature does not verify with its own key")
        return self.sign(common_name, role, csr.public_key(), days=days)


def serial_hex(cert_or_pem) -> str:
    cert = cert_or_pem if isinstance(cert_or_pem, x509.Certificate) else x509.load_pem_x509_certificate(cert_or_pem)
    return format(cert.serial_number, "x")

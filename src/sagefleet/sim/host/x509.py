"""Windows' certificate logic as the facts snippet meets it: X509Chain in SslStream's callback.

What is modelled and what is not (never kinder than Windows): docs/simulator.md, "What is
simulated" (certificate stores), "What is not simulated", and ledger row 22.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

#: The stores the model knows: AuthRoot (third-party roots), and Root's own physical
#: stores (registry, Group Policy, enterprise). The logical Root store is both.
STORES = ("AuthRoot", "Root")


@dataclass
class CertStores:
    """LocalMachine certificate stores of one host."""

    authroot: list[x509.Certificate] = field(default_factory=list)
    root: list[x509.Certificate] = field(default_factory=list)

    def logical_root(self) -> list[x509.Certificate]:
        """What ``X509Store('Root', 'LocalMachine')`` enumerates: every physical store."""
        return [*self.root, *self.authroot]

    def holds(self, store: str, cert: x509.Certificate) -> bool:
        wanted = thumbprint(cert)
        pool = self.authroot if store == "AuthRoot" else self.logical_root()
        return any(thumbprint(c) == wanted for c in pool)


def thumbprint(cert: x509.Certificate) -> str:
    """X509Certificate2.Thumbprint: the SHA-1 of the DER, upper-case hex."""
    return cert.fingerprint(hashes.SHA1()).hex().upper()  # noqa: S303 - Windows' thumbprint


def simple_name(name: x509.Name) -> str | None:
    """GetNameInfo('SimpleName', ...): the common name, else the first other attribute."""
    for oid in (NameOID.COMMON_NAME, NameOID.ORGANIZATIONAL_UNIT_NAME, NameOID.ORGANIZATION_NAME):
        values = name.get_attributes_for_oid(oid)
        if values:
            return str(values[0].value)
    return None


def dotnet_time(value: dt.datetime) -> str:
    """DateTime.ToUniversalTime().ToString('o'): seven fraction digits, Z."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def _self_signed(cert: x509.Certificate) -> bool:
    return _issued_by(cert, cert)


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _dns_names(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        common = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return [str(common[0].value)] if common else []
    return list(san.get_values_for_type(x509.DNSName))


def name_matches(cert: x509.Certificate, host: str) -> bool:
    """The name check SslStream makes: a DNS name equal to the host, or a wildcard for
    exactly its left-most label."""
    wanted = host.lower().rstrip(".")
    for pattern in _dns_names(cert):
        pattern = pattern.lower().rstrip(".")
        if pattern == wanted:
            return True
        if pattern.startswith("*.") and wanted.partition(".")[2] == pattern[2:]:
            return True
    return False


def build_chain(
    presented: Sequence[x509.Certificate], stores: CertStores, at: dt.datetime
) -> tuple[list[x509.Certificate], list[str]]:
    """The chain and its ChainStatus flags, as X509Chain.Build gives them."""
    if not presented:
        return [], []
    trusted = stores.logical_root()
    pool = list(presented[1:])
    chain = [presented[0]]
    status: list[str] = []
    while len(chain) < 10:
        current = chain[-1]
        if _self_signed(current):
            if not stores.holds("Root", current):
                status.append("UntrustedRoot")
            break
        issuer = next((c for c in trusted if _issued_by(current, c)), None) or next(
            (c for c in pool if c not in chain and _issued_by(current, c)), None
        )
        if issuer is None:
            status.append("PartialChain")
            break
        chain.append(issuer)
    for cert in chain:
        if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
            status.append("NotTimeValid")
            break
    if any(not _is_ca(cert) for cert in chain[1:]):
        status.append("InvalidBasicConstraints")
    return chain, status


def policy_errors(name_ok: bool, chain_status: Iterable[str]) -> str:
    """SslPolicyErrors.ToString(), flags in the enum's order."""
    flags = []
    if not name_ok:
        flags.append("RemoteCertificateNameMismatch")
    if list(chain_status):
        flags.append("RemoteCertificateChainErrors")
    return ", ".join(flags) or "None"


def callback_view(
    host_name: str, presented: Sequence[x509.Certificate], stores: CertStores, at: dt.datetime
) -> dict[str, Any]:
    """The tls_result members the facts snippet reads in its validation callback."""
    if not presented:
        return {
            "policy_errors": "RemoteCertificateNotAvailable",
            "chain_status": [],
            "chain": [],
            "root_in_authroot": None,
            "root_in_root": None,
        }
    chain, status = build_chain(presented, stores, at)
    root = chain[-1]
    return {
        "policy_errors": policy_errors(name_matches(presented[0], host_name), status),
        "chain_status": status,
        "chain": [
            {
                "subject": simple_name(cert.subject),
                "issuer": simple_name(cert.issuer),
                "thumbprint": thumbprint(cert),
                "not_after": dotnet_time(cert.not_valid_after_utc),
            }
            for cert in chain
        ],
        "root_in_authroot": stores.holds("AuthRoot", root),
        "root_in_root": stores.holds("Root", root),
    }

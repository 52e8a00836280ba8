"""The public PKI the simulated endpoints present to the simulated hosts.

Real chains, generated here: each endpoint presents a leaf for its name and the
intermediate that issued it, signed up to a root. The simulated hosts hold these
roots in their AuthRoot store (Microsoft's Trusted Root Program, as automatic root
update fills it), so Windows' chain logic (sim/host/x509.py) validates them with
real signatures; an intercepting proxy presents leaves signed by its own CA instead.
Names follow the real hierarchies; the keys are generated (never the real ones).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import threading
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: Simulated public roots: common name -> (organisation, key type).
PUBLIC_ROOTS: dict[str, tuple[str, str]] = {
    "ISRG Root X1": ("Internet Security Research Group", "rsa"),
    "ISRG Root X2": ("Internet Security Research Group", "ec384"),
    "GTS Root R1": ("Google Trust Services LLC", "rsa"),
    "GTS Root R4": ("Google Trust Services LLC", "ec384"),
    "Amazon Root CA 1": ("Amazon", "rsa"),
    "USERTrust RSA Certification Authority": ("The USERTRUST Network", "rsa"),
}

#: Simulated public intermediates: common name -> (root, organisation, key type).
PUBLIC_INTERMEDIATES: dict[str, tuple[str, str, str]] = {
    **{f"E{n}": ("ISRG Root X2", "Let's Encrypt", "ec384") for n in range(5, 10)},
    **{f"R{n}": ("ISRG Root X1", "Let's Encrypt", "rsa") for n in range(10, 15)},
    "WE1": ("GTS Root R4", "Google Trust Services", "ec256"),
    "WR1": ("GTS Root R1", "Google Trust Services", "rsa"),
    **{f"Amazon RSA 2048 M0{n}": ("Amazon Root CA 1", "Amazon", "rsa") for n in range(1, 5)},
    "Sectigo RSA Domain Validation Secure Server CA": (
        "USERTrust RSA Certification Authority",
        "Sectigo Limited",
        "rsa",
    ),
}

_Key = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def _new_key(kind: str) -> _Key:
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP384R1() if kind == "ec384" else ec.SECP256R1())


def _hash_for(key: _Key) -> hashes.SHA256 | hashes.SHA384:
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size >= 384:
        return hashes.SHA384()
    return hashes.SHA256()


def _ca_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def _named(common_name: str, organisation: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def ca_certificate(
    name: x509.Name,
    key: _Key,
    issuer: x509.Name,
    issuer_key: _Key,
    before: dt.datetime,
    after: dt.datetime,
    path_length: int | None,
) -> x509.Certificate:
    """A CA certificate for ``key``, signed by ``issuer_key`` (the same key: self-signed)."""
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(before)
        .not_valid_after(after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(_ca_usage(), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(issuer_key, _hash_for(issuer_key))
    )


def server_certificate(
    subject: x509.Name,
    key: _Key,
    issuer: x509.Certificate,
    issuer_key: _Key,
    before: dt.datetime,
    after: dt.datetime,
    *,
    names: Sequence[str],
    addresses: Sequence[str] = (),
) -> x509.Certificate:
    """A TLS server certificate for ``key``, valid for these IP addresses and DNS names."""
    sans: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
    sans += [x509.DNSName(n) for n in names]
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(before)
        .not_valid_after(after)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), False
        )
        .sign(issuer_key, _hash_for(issuer_key))
    )


def _self_signed(
    common_name: str, organisation: str, kind: str, *, age_years: int, years: int
) -> tuple[x509.Certificate, _Key]:
    """A root CA issued ``age_years`` ago, valid ``years`` from now."""
    key = _new_key(kind)
    name = _named(common_name, organisation)
    now = dt.datetime.now(dt.UTC)
    before, after = now - dt.timedelta(days=age_years * 365), now + dt.timedelta(days=years * 365)
    return ca_certificate(name, key, name, key, before, after, None), key


class SimulatedPki:
    """Roots, intermediates, proxy CAs and leaves, made on first use and kept for the process.

    Every simulated host of a process sees the same roots, as every Windows server
    sees the same public roots. Thread-safe: the simulator serves hosts from threads.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cas: dict[str, tuple[x509.Certificate, _Key]] = {}
        self._leaves: dict[tuple[str, str, str | None], x509.Certificate] = {}
        self._leaf_key: _Key | None = None

    def _root(self, cn: str) -> tuple[x509.Certificate, _Key]:
        if cn not in self._cas:
            organisation, kind = PUBLIC_ROOTS[cn]
            self._cas[cn] = _self_signed(cn, organisation, kind, age_years=5, years=10)
        return self._cas[cn]

    def _ca(self, cn: str) -> tuple[x509.Certificate, _Key]:
        """A public intermediate (signed by its root) or a public root."""
        if cn in PUBLIC_ROOTS:
            return self._root(cn)
        if cn not in self._cas:
            root_cn, organisation, kind = PUBLIC_INTERMEDIATES[cn]
            root, root_key = self._root(root_cn)
            key = _new_key(kind)
            now = dt.datetime.now(dt.UTC)
            self._cas[cn] = (
                ca_certificate(
                    _named(cn, organisation),
                    key,
                    root.subject,
                    root_key,
                    now - dt.timedelta(days=365),
                    now + dt.timedelta(days=3 * 365),
                    0,
                ),
                key,
            )
        return self._cas[cn]

    def _proxy_ca(self, cn: str) -> tuple[x509.Certificate, _Key]:
        tag = f"proxy:{cn}"
        if tag not in self._cas:
            self._cas[tag] = _self_signed(
                cn, "TLS inspection proxy", "ec256", age_years=1, years=5
            )
        return self._cas[tag]

    def _leaf(
        self, name: str, issuer: x509.Certificate, issuer_key: _Key, not_after: dt.datetime | None
    ) -> x509.Certificate:
        if self._leaf_key is None:
            self._leaf_key = _new_key("ec256")
        now = dt.datetime.now(dt.UTC)
        after = not_after or now + dt.timedelta(days=60)
        before = min(now - dt.timedelta(days=30), after - dt.timedelta(days=90))
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        return server_certificate(
            subject, self._leaf_key, issuer, issuer_key, before, after, names=[name]
        )

    def public_chain(
        self, name: str, intermediate: str, not_after: dt.datetime | None = None
    ) -> tuple[x509.Certificate, ...]:
        """What a public endpoint sends: its leaf, then the intermediate (never the root)."""
        if intermediate not in PUBLIC_INTERMEDIATES:
            raise KeyError(intermediate)
        with self._lock:
            ca, ca_key = self._ca(intermediate)
            stamp = not_after.isoformat() if not_after else None
            key = (name.lower(), intermediate, stamp)
            if key not in self._leaves:
                self._leaves[key] = self._leaf(name.lower(), ca, ca_key, not_after)
            return (self._leaves[key], ca)

    def proxy_chain(self, name: str, proxy: str) -> tuple[x509.Certificate, ...]:
        """What a TLS-inspecting proxy sends for ``name``: a leaf signed by its own CA."""
        with self._lock:
            ca, ca_key = self._proxy_ca(proxy)
            key = (name.lower(), f"proxy:{proxy}", None)
            if key not in self._leaves:
                self._leaves[key] = self._leaf(name.lower(), ca, ca_key, None)
            return (self._leaves[key],)

    def proxy_root(self, proxy: str) -> x509.Certificate:
        with self._lock:
            return self._proxy_ca(proxy)[0]

    def public_roots(self) -> list[x509.Certificate]:
        """Every simulated public root (what AuthRoot holds on a simulated host)."""
        with self._lock:
            return [self._root(cn)[0] for cn in PUBLIC_ROOTS]


PKI = SimulatedPki()

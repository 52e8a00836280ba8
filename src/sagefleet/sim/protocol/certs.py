"""The WinRM listeners' CA and server certificate.

Written next to the generated inventory so real clients validate the simulator's
HTTPS endpoints exactly as they would a client's servers. The public PKI the
simulated endpoints present is the host model's (sim/host/pki.py).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sagefleet.sim.host.pki import ca_certificate, server_certificate


@dataclass(frozen=True)
class CertBundle:
    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes

    def write(self, folder: Path) -> tuple[Path, Path, Path]:
        folder.mkdir(parents=True, exist_ok=True)
        paths = (folder / "ca.pem", folder / "server.pem", folder / "server.key")
        for path, data in zip(paths, (self.ca_pem, self.cert_pem, self.key_pem), strict=True):
            path.write_bytes(data)
        paths[2].chmod(0o600)
        return paths


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "sagefleet simulated fleet"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def generate(addresses: list[str], names: list[str], days: int = 30) -> CertBundle:
    """A fresh CA and a server certificate valid for every given IP and DNS name."""
    now = dt.datetime.now(dt.UTC)
    before, after = now - dt.timedelta(minutes=5), now + dt.timedelta(days=days)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("sagefleet simulator CA")
    ca_cert = ca_certificate(ca_name, ca_key, ca_name, ca_key, before, after, path_length=0)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = server_certificate(
        _name("sagefleet simulated host"),
        key,
        ca_cert,
        ca_key,
        before,
        after,
        names=sorted(set(names)),
        addresses=addresses,
    )
    pem = serialization.Encoding.PEM
    return CertBundle(
        ca_pem=ca_cert.public_bytes(pem),
        cert_pem=cert.public_bytes(pem),
        key_pem=key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )

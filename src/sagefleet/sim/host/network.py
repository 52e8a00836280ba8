"""What the host's network looks like from inside: DNS, firewall, TLS servers, proxies.

Nothing is ever dialled: every probe is answered from the host's policy.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509

from sagefleet.sim.host.pki import PKI
from sagefleet.sim.host.x509 import dotnet_time

#: The agent's outbound endpoints (Chift local-agent documentation), 80 and 443.
DEFAULT_ENDPOINTS = ("s3.eu-west-3.amazonaws.com", "sqs.eu-west-3.amazonaws.com", "api.chift.eu")
TLS_PROTOCOLS = ("TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3")
TCP_RESULTS = ("ok", "refused", "timeout", "unreachable")
DNS_STATUSES = ("ok", "nxdomain", "servfail", "timeout")

# Addresses are only strings in answers (documentation ranges): nothing is ever dialled.
DEFAULT_DNS = {
    "s3.eu-west-3.amazonaws.com": ("198.51.100.10",),
    "sqs.eu-west-3.amazonaws.com": ("198.51.100.20",),
    "api.chift.eu": ("203.0.113.30",),
}
DEFAULT_ISSUERS = {
    "s3.eu-west-3.amazonaws.com": "Amazon RSA 2048 M02",
    "sqs.eu-west-3.amazonaws.com": "Amazon RSA 2048 M02",
    "api.chift.eu": "Sectigo RSA Domain Validation Secure Server CA",
}
_DNS_ERRORS = {
    "nxdomain": "No such host is known",
    "servfail": (
        "This is usually a temporary error during hostname resolution and means that the "
        "local server did not receive a response from an authoritative server"
    ),
}


@dataclass(frozen=True)
class DnsRule:
    status: str = "ok"
    addresses: tuple[str, ...] = ()
    cname: str | None = None


@dataclass(frozen=True)
class TlsRule:
    """What a TLS server (or an intercepting proxy) presents.

    A public server presents a leaf for its name issued by ``issuer``, one of the
    simulated public intermediates (sim/host/pki.py: E5-E9, R10-R14, WE1, WR1, Amazon
    RSA 2048 M01-M04, Sectigo...), and that intermediate; a proxy (``proxy``) a leaf
    signed by its own CA named ``issuer``. ``not_after``: the leaf's end of validity
    (default: 60 days from now).
    """

    issuer: str
    subject: str | None = None
    protocols: tuple[str, ...] = ("TLSv1.2", "TLSv1.3")
    not_after: dt.datetime | None = None
    proxy: bool = False

    def chain(self, name: str) -> tuple[x509.Certificate, ...]:
        """The certificates the server sends for ``name``, leaf first."""
        leaf_name = self.subject or name
        if self.proxy:
            return PKI.proxy_chain(leaf_name, self.issuer)
        return PKI.public_chain(leaf_name, self.issuer, self.not_after)


@dataclass(frozen=True)
class DnsAnswer:
    status: str
    addresses: tuple[str, ...] = ()
    cname_chain: tuple[str, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class TcpAnswer:
    ok: bool
    elapsed_ms: int | None
    error: str | None  # refused / timeout / unreachable / dns


@dataclass(frozen=True)
class TlsAnswer:
    ok: bool
    protocol: str | None = None
    issuer: str | None = None
    subject: str | None = None
    not_after: str | None = None
    error: str | None = None
    # What the server sent, leaf first (empty when the handshake failed).
    chain: tuple[x509.Certificate, ...] = ()


_INHERIT: Any = object()


@dataclass
class AccountNetwork:
    """What differs for one account's traffic (profile ``network.accounts``)."""

    dns: dict[str, DnsRule] = field(default_factory=dict)
    tcp: dict[str, str] = field(default_factory=dict)
    default_tcp: str | None = None
    # A TlsRule, None (no inspection for this account), or _INHERIT (the host's).
    intercept: Any = _INHERIT


@dataclass
class NetworkPolicy:
    """The network as the host sees it: DNS answers, firewall verdicts, TLS servers."""

    dns: dict[str, DnsRule] = field(default_factory=dict)
    tcp: dict[str, str] = field(default_factory=dict)  # "name:port" -> ok/refused/...
    default_tcp: str = "timeout"  # a default-deny firewall drops silently
    tls: dict[str, TlsRule] = field(default_factory=dict)  # "name" (port 443) or "name:port"
    intercept: TlsRule | None = None
    intercept_except: set[str] = field(default_factory=set)
    latency_ms: dict[str, int] = field(default_factory=dict)  # "name" or "name:port"
    default_latency_ms: int = 20
    winhttp_proxy: str | None = None
    winhttp_bypass: str | None = None
    # The network as one account's traffic meets it, where it differs from what the
    # WinRM account sees (SID -> overrides): an egress firewall or proxy that knows who
    # connects (identity-aware filtering, per-service rules), DNS, TLS inspection.
    accounts: dict[str, AccountNetwork] = field(default_factory=dict)

    def for_account(self, sid: str | None) -> NetworkPolicy:
        """The policy one account's traffic meets (this one, with its overrides)."""
        override = self.accounts.get((sid or "").upper())
        if override is None:
            return self
        return dataclasses.replace(
            self,
            dns={**self.dns, **override.dns},
            tcp={**self.tcp, **override.tcp},
            default_tcp=override.default_tcp or self.default_tcp,
            intercept=self.intercept if override.intercept is _INHERIT else override.intercept,
            accounts={},
        )

    def resolve(self, name: str, timeout_ms: int = 2000) -> DnsAnswer:
        """What [System.Net.Dns]::GetHostAddresses would return, following CNAMEs."""
        chain: list[str] = []
        current = name.lower().rstrip(".")
        for _ in range(10):
            rule = self.dns.get(current)
            if rule is None:
                return DnsAnswer(
                    "nxdomain", cname_chain=tuple(chain), error=_DNS_ERRORS["nxdomain"]
                )
            if rule.cname:
                chain.append(rule.cname)
                current = rule.cname.lower()
                continue
            if rule.status == "ok":
                return DnsAnswer("ok", rule.addresses, tuple(chain))
            if rule.status == "timeout":
                error = f"timed out after {timeout_ms} ms"
                return DnsAnswer("timeout", cname_chain=tuple(chain), error=error)
            return DnsAnswer(rule.status, cname_chain=tuple(chain), error=_DNS_ERRORS[rule.status])
        return DnsAnswer("servfail", tuple(), tuple(chain), _DNS_ERRORS["servfail"])

    def latency(self, name: str, port: int) -> int:
        key = name.lower()
        return self.latency_ms.get(
            f"{key}:{port}", self.latency_ms.get(key, self.default_latency_ms)
        )

    def connect(self, name: str, port: int, timeout_ms: int = 2000) -> TcpAnswer:
        """A TCP connect from the host: the firewall's verdict and how long it took."""
        if self.resolve(name, timeout_ms).status != "ok":
            return TcpAnswer(False, None, "dns")
        verdict = self.tcp.get(f"{name.lower()}:{port}", self.default_tcp)
        latency = self.latency(name, port)
        if verdict == "ok":
            if latency > timeout_ms:
                return TcpAnswer(False, timeout_ms, "timeout")
            return TcpAnswer(True, latency, None)
        if verdict == "timeout":
            return TcpAnswer(False, timeout_ms, "timeout")
        return TcpAnswer(False, min(latency, timeout_ms), verdict)

    def handshake(
        self, name: str, port: int, client_protocols: Iterable[str] = ("TLSv1.2",)
    ) -> TlsAnswer:
        """A TLS handshake after a successful connect, accepting any certificate."""
        offered = [p for p in client_protocols if p in TLS_PROTOCOLS]
        lower = name.lower()
        rule: TlsRule | None
        if port == 443 and self.intercept is not None and lower not in self.intercept_except:
            rule = TlsRule(
                issuer=self.intercept.issuer,
                subject=self.intercept.subject or name,
                protocols=self.intercept.protocols,
                proxy=True,
            )
        else:
            rule = self.tls.get(f"{lower}:{port}") or (self.tls.get(lower) if port == 443 else None)
        if rule is None:
            return TlsAnswer(
                False,
                error=(
                    "Authentication failed because the remote party has closed the "
                    "transport stream."
                ),
            )
        common = [p for p in TLS_PROTOCOLS if p in offered and p in rule.protocols]
        if not common:
            return TlsAnswer(
                False,
                error=(
                    "The client and server cannot communicate, because they do not possess "
                    "a common algorithm"
                ),
            )
        chain = rule.chain(name)
        leaf = chain[0]
        return TlsAnswer(
            True,
            common[-1],
            rule.issuer,
            rule.subject or name,
            dotnet_time(leaf.not_valid_after_utc),
            chain=chain,
        )



"""Who may log on to a simulated host over WinRM, and under which names, as Windows decides.

The account is the inventory's ``ansible_user``, local or of the profile's domain; the
rules: docs/simulator.md, "What is simulated" (WinRM logon), and ledger rows 19 and 20.
"""

from __future__ import annotations

from dataclasses import dataclass

from sagefleet.sim.host import ProfileError, WindowsHost


@dataclass(frozen=True)
class Account:
    """The host's WinRM account: a local one (``dns_domain`` None) or a domain one."""

    user: str
    dns_domain: str | None = None

    @property
    def netbios_domain(self) -> str | None:
        return self.dns_domain.split(".", 1)[0].upper() if self.dns_domain else None

    @property
    def is_local(self) -> bool:
        return self.dns_domain is None


def account_of(host: WindowsHost) -> Account:
    """The account ``host.username`` declares, checked against the host's domain."""
    text = host.username.strip()
    domain_name = (host.domain or "").strip()
    netbios = domain_name.split(".", 1)[0].lower() if domain_name else None
    where = f"ansible_user {text!r}"
    if "\\" in text:
        domain, _, user = text.rpartition("\\")
        if not user or "\\" in domain or not domain:
            raise ProfileError(f"{where}: write DOMAIN\\user, .\\user or user")
        if domain == "." or domain.lower() == host.hostname.lower():
            return Account(user)
        if domain.lower() in (netbios, domain_name.lower()):
            return Account(user, domain_name)
        raise ProfileError(_foreign(where, domain, host))
    if "@" in text:
        user, _, suffix = text.rpartition("@")
        if not user or not suffix:
            raise ProfileError(f"{where}: a user principal name is user@dns.domain")
        if suffix.lower() == domain_name.lower() and domain_name:
            return Account(user, domain_name)
        raise ProfileError(_foreign(where, suffix, host))
    if not text:
        raise ProfileError("ansible_user is empty")
    return Account(text)


def _foreign(where: str, domain: str, host: WindowsHost) -> str:
    member = f"a member of {host.domain}" if host.domain else "in WORKGROUP"
    return (
        f"{where} names the domain {domain!r}, but the simulated host {host.hostname} "
        f"(profile {host.profile!r}) is {member}: use a local account (user, .\\user) "
        "or the host's domain, or set the profile's domain (sagefleet_sim_overrides)"
    )


def ntlm_names(account: Account, hostname: str) -> list[tuple[str, str]]:
    """Every (domain, user) pair an NTLM AUTHENTICATE message may carry for the account."""
    if account.is_local:
        return [("", account.user), (".", account.user), (hostname, account.user)]
    assert account.dns_domain is not None and account.netbios_domain is not None
    return [
        ("", account.user),
        (account.netbios_domain, account.user),
        (account.dns_domain, account.user),
        ("", f"{account.user}@{account.dns_domain}"),
    ]


def accepts(account: Account, hostname: str, domain: str, user: str) -> bool:
    """Whether Windows logs ``domain``\\``user`` (NTLM fields) on as the account."""
    wanted = {(d.lower(), u.lower()) for d, u in ntlm_names(account, hostname)}
    return (domain.lower(), user.lower()) in wanted


def accepts_principal(account: Account, hostname: str, principal: str) -> bool:
    """The same for pyspnego's ``client_principal`` (``DOMAIN\\user``, ``user`` or a UPN)."""
    domain, _, user = principal.rpartition("\\")
    return accepts(account, hostname, domain, user)


def accepts_basic(account: Account, hostname: str, user_text: str) -> bool:
    """Basic authentication: WinRM accepts local accounts only (``user``, ``.\\user``,
    ``HOSTNAME\\user``)."""
    if not account.is_local or "@" in user_text:
        return False
    return accepts_principal(account, hostname, user_text)


@dataclass(frozen=True)
class HostCredentials:
    """The listener's credentials policy for one simulated host (``server.Credentials``).

    Reads the host when asked, so a change to its WinRM settings or a reset
    applies to the next request, as on Windows.
    """

    host: WindowsHost

    @property
    def username(self) -> str:
        return self.host.username

    @property
    def allow_basic(self) -> bool:
        return self.host.winrm.allow_basic

    @property
    def allow_unencrypted(self) -> bool:
        return self.host.winrm.allow_unencrypted

    def basic(self, user: str, password: str) -> str | None:
        account = account_of(self.host)
        if accepts_basic(account, self.host.hostname, user) and password == self.host.password:
            return self.host.username
        return None

    def ntlm(self, principal: str) -> str | None:
        if accepts_principal(account_of(self.host), self.host.hostname, principal):
            return self.host.username
        return None

    def ntlm_users(self) -> list[tuple[str, str, str]]:
        names = ntlm_names(account_of(self.host), self.host.hostname)
        return [(domain, user, self.host.password) for domain, user in names]

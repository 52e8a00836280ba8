"""WinRM logons with DOMAIN\\user, UPN and local account names, as Windows accepts them.

Real pywinrm sessions (NTLM: the domain and user name travel in the
AUTHENTICATE message) against simulated hosts whose account is declared by
the inventory's ``ansible_user``: a domain account of the host's domain
(healthy-onprem is a member of CORP.LOCAL), or a local account.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import winrm
from winrm.exceptions import InvalidCredentialsError

from sagefleet.sim.fleet import Fleet, FleetError, generate_specs
from tests.support.fleets import next_first_address

PASSWORD = "Sim-Logon-" + secrets.token_hex(4)


def fleet_with(user: str, tmp: Path, profile: str = "healthy-onprem", **kw: object) -> Fleet:
    specs = generate_specs(
        1,
        profiles=(profile,),
        first_address=next_first_address(),
        port=0,
        scheme="http",
        username=user,
        password=PASSWORD,
    )
    for key, value in kw.items():
        setattr(specs[0], key, value)
    return Fleet(specs, tmp)


@pytest.fixture(scope="module")
def domain_account(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Fleet, str]]:
    user = f"sfdom{secrets.token_hex(2)}"
    with fleet_with(f"CORP\\{user}", tmp_path_factory.mktemp("domain")) as fleet:
        yield fleet, user


@pytest.fixture(scope="module")
def local_account(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Fleet, str]]:
    user = f"sfloc{secrets.token_hex(2)}"
    with fleet_with(user, tmp_path_factory.mktemp("local")) as fleet:
        yield fleet, user


def run(fleet: Fleet, user: str, transport: str = "ntlm", **kw: object) -> bytes:
    session = winrm.Session(
        fleet.endpoint("sage01"), auth=(user, PASSWORD), transport=transport, **kw
    )
    return bytes(session.run_cmd("hostname").std_out)


@pytest.mark.parametrize(
    "form",
    ["CORP\\{u}", "corp\\{U}", "CORP.LOCAL\\{u}", "{u}@corp.local", "{U}@CORP.LOCAL", "{u}"],
)
def test_a_domain_account_logs_on_by_its_domain_or_upn_in_any_case(
    domain_account: tuple[Fleet, str], form: str
) -> None:
    fleet, user = domain_account
    name = form.format(u=user, U=user.upper())
    assert run(fleet, name) == b"SAGE-ONPREM\r\n"


@pytest.mark.parametrize(
    "form", ["OTHER\\{u}", ".\\{u}", "SAGE-ONPREM\\{u}", "{u}@other.local", "CORP\\not{u}"]
)
def test_a_domain_account_under_another_domain_or_as_local_is_refused(
    domain_account: tuple[Fleet, str], form: str
) -> None:
    fleet, user = domain_account
    with pytest.raises(InvalidCredentialsError):
        run(fleet, form.format(u=user))


def test_a_domain_account_with_a_wrong_password_is_refused(
    domain_account: tuple[Fleet, str],
) -> None:
    fleet, user = domain_account
    session = winrm.Session(
        fleet.endpoint("sage01"), auth=(f"CORP\\{user}", "wrong"), transport="ntlm"
    )
    with pytest.raises(InvalidCredentialsError):
        session.run_cmd("hostname")


@pytest.mark.parametrize("form", ["{u}", ".\\{u}", "SAGE-ONPREM\\{u}", "sage-onprem\\{U}"])
def test_a_local_account_logs_on_as_itself_dot_or_the_computer_name(
    local_account: tuple[Fleet, str], form: str
) -> None:
    fleet, user = local_account
    assert run(fleet, form.format(u=user, U=user.upper())) == b"SAGE-ONPREM\r\n"


@pytest.mark.parametrize("form", ["CORP\\{u}", "{u}@corp.local", "OTHER\\{u}"])
def test_a_local_account_under_a_domain_name_is_refused(
    local_account: tuple[Fleet, str], form: str
) -> None:
    fleet, user = local_account
    with pytest.raises(InvalidCredentialsError):
        run(fleet, form.format(u=user))


def test_basic_authentication_takes_local_accounts_only(tmp_path: Path) -> None:
    basic = {"winrm": {"allow_basic": True, "allow_unencrypted": True}}
    local = f"sfbl{secrets.token_hex(2)}"
    with fleet_with(local, tmp_path / "local", overrides=basic) as fleet:
        assert run(fleet, f".\\{local}", transport="basic") == b"SAGE-ONPREM\r\n"
    domain = f"sfbd{secrets.token_hex(2)}"
    with fleet_with(f"CORP\\{domain}", tmp_path / "domain", overrides=basic) as fleet:
        with pytest.raises(InvalidCredentialsError):
            run(fleet, f"CORP\\{domain}", transport="basic")
        assert run(fleet, f"CORP\\{domain}") == b"SAGE-ONPREM\r\n"  # NTLM still works


@pytest.mark.parametrize(
    ("profile", "user", "message"),
    [
        ("clock-skew", "CORP\\sfadmin", "is in WORKGROUP"),
        ("healthy-onprem", "OTHER\\sfadmin", "is a member of CORP.LOCAL"),
        ("healthy-onprem", "sfadmin@other.local", "is a member of CORP.LOCAL"),
    ],
)
def test_an_account_of_a_domain_the_host_is_not_in_is_refused_before_it_starts(
    tmp_path: Path, profile: str, user: str, message: str
) -> None:
    fleet = fleet_with(user, tmp_path, profile=profile)
    with pytest.raises(FleetError) as caught:
        fleet.start()
    text = str(caught.value)
    assert text.startswith(f"host sage01: ansible_user {user!r} names the domain")
    assert message in text
    assert fleet.listeners == {}

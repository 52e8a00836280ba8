"""A complete facts document of a healthy on-premise server, for check tests to mutate."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
from typing import Any

from sagefleet.checks import EntityView

ENDPOINTS = [
    ("s3.eu-west-3.amazonaws.com", 443, True, "Amazon RSA 2048 M02"),
    ("s3.eu-west-3.amazonaws.com", 80, False, None),
    ("sqs.eu-west-3.amazonaws.com", 443, True, "Amazon RSA 2048 M03"),
    ("sqs.eu-west-3.amazonaws.com", 80, False, None),
    ("api.chift.eu", 443, True, "Sectigo RSA Domain Validation Secure Server CA"),
    ("api.chift.eu", 80, False, None),
]


#: The root each public intermediate of ENDPOINTS chains to.
ROOTS = {
    "Amazon RSA 2048 M02": "Amazon Root CA 1",
    "Amazon RSA 2048 M03": "Amazon Root CA 1",
    "Sectigo RSA Domain Validation Secure Server CA": "USERTrust RSA Certification Authority",
}
#: The bastion's clock of the check tests, and an entity of each edition.
NOW = dt.datetime(2026, 11, 28, 10, 0, tzinfo=dt.UTC)
ONPREM = EntityView(
    name="BIJOU",
    edition="onpremise",
    mae_path="C:\\Sage\\Societes\\BIJOU.MAE",
    sql_instance="SRV-SQL\\SAGE",
    database="BIJOU",
)
SPC = EntityView(
    name="ATELIER",
    edition="spc",
    mae_path="C:\\Sage\\Societes\\BIJOU.MAE",
    azure_sql_server="xiyxu8z271",
    database="xim9mokrk4q_AS274AY1ZH",
)
OM_DLL = "C:\\Program Files (x86)\\Common Files\\Sage\\Objets métiers\\objets100c.dll"


def chain(name: str, *issuers: str) -> list[dict[str, Any]]:
    """A chain as the facts snippet reports it: leaf first, then each issuer."""
    subjects = [name, *issuers]
    return [
        {
            "subject": subject,
            "issuer": issuers[min(i, len(issuers) - 1)],
            "thumbprint": hashlib.sha1(subject.encode()).hexdigest().upper(),
            "not_after": "2027-06-01T00:00:00.0000000Z",
        }
        for i, subject in enumerate(subjects)
    ]


def om_class(name: str, view: str = "32", version: str | None = "11.0.0.1337") -> dict[str, Any]:
    clsid = {
        "Cpta": "{309DE0FB-9FB8-4F4E-8295-CC60C60DAA33}",
        "Cial": "{ED0EC116-16B8-44CC-A68A-41BF6E15EB3F}",
    }[name]
    return {
        "name": name,
        "clsid": clsid,
        "view": view,
        "server": OM_DLL,
        "progid": f"Objets100c.{name}.Stream.1",
        "exists": True,
        "file_version": version,
    }


def probe(
    name: str, port: int, tls: bool, issuer: str | None = None, address: str = "52.95.155.1"
) -> dict[str, Any]:
    return {
        "name": name,
        "port": port,
        "tls": tls,
        "dns": {"status": "ok", "addresses": [address], "error": None},
        "tcp": {"ok": True, "elapsed_ms": 12, "error": None},
        "tls_result": {
            "ok": True,
            "protocol": "Tls12",
            "issuer": issuer,
            "subject": name,
            "not_after": "2027-06-01T00:00:00Z",
            "error": None,
            "policy_errors": "None",
            "chain_status": [],
            "chain": chain(name, issuer, ROOTS[issuer]) if issuer in ROOTS else [],
            "root_in_authroot": True if issuer in ROOTS else None,
            "root_in_root": True if issuer in ROOTS else None,
        }
        if tls
        else None,
    }


def healthy(now: dt.datetime | None = None) -> dict[str, Any]:
    now = now or dt.datetime.now(dt.UTC)
    return copy.deepcopy(
        {
            "schema": 1,
            "host": {
                "hostname": "SAGE-ONPREM",
                "os_caption": "Microsoft Windows Server 2019 Standard",
                "os_version": "10.0.17763",
                "os_build": 17763,
                "powershell_version": "5.1.17763.5576",
                "language_mode": "FullLanguage",
                "utc_now": now.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z",
                "domain": "BIJOU.LAN",
                "part_of_domain": True,
            },
            "drives": [
                {
                    "name": "C:",
                    "drive_type": "fixed",
                    "free_bytes": 40 * 2**30,
                    "size_bytes": 100 * 2**30,
                    "provider": None,
                }
            ],
            "dotnet": {"release": 528049},
            "tls": {
                "netfx_x64": {"SchUseStrongCrypto": 1, "SystemDefaultTlsVersions": 1},
                "netfx_x86": {"SchUseStrongCrypto": 1, "SystemDefaultTlsVersions": 1},
                "schannel_tls12_client": {"Enabled": None, "DisabledByDefault": None},
            },
            "proxy": {"winhttp_proxy": None, "winhttp_bypass": None},
            "sage": {
                "uninstall": [
                    {
                        "display_name": "Sage 100 Comptabilité",
                        "display_version": "11.02",
                        "install_location": "C:\\Program Files (x86)\\Sage\\iComptabilité",
                        "publisher": "Sage",
                        "view": "32",
                    }
                ],
                "products": [
                    {
                        "product": "Comptabilité 100c",
                        "path": "C:\\Program Files (x86)\\Sage\\iComptabilité",
                    }
                ],
                "executables": [
                    {
                        "name": "Maestria.exe",
                        "path": "C:\\Program Files (x86)\\Sage\\iComptabilité\\Maestria.exe",
                        "product_version": "11.02",
                    }
                ],
            },
            "objets_metiers": {
                "files": [{"path": OM_DLL, "file_version": "11.0.0.1337"}],
                "uninstall": [],
                "classes": [om_class("Cpta"), om_class("Cial")],
            },
            "azure": {
                "guest_agent_service": False,
                "azure_registry_key": False,
                "spc_marker": False,
            },
            "agent": {
                "service_name": "SpendeskSageAgent",
                "installed": False,
                "state": None,
                "start_mode": None,
                "account": None,
                "version": None,
                "path": None,
            },
            "mae_files": [
                {
                    "path": "C:\\Sage\\Societes\\BIJOU.MAE",
                    "exists": True,
                    "size": 312,
                    "drive_type": "fixed",
                    "unc": False,
                    "mapped_drive": False,
                    "serveur_sql": "SRV-SQL\\SAGE",
                    "type": "SQL",
                    "database": "BIJOU",
                }
            ],
            "probes": [probe(n, p, t, i) for n, p, t, i in ENDPOINTS],
            "service_logon_right": None,
            "failed_install": {
                "path": "C:\\ProgramData\\sagefleet\\backup\\failed-install.json",
                "exists": False,
                "text": None,
                "error": None,
            },
        }
    )

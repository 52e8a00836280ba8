"""Data files behind the checks: .NET releases, Sage versions, endpoints, agent.

Every file can be overridden from the inventory (same shape); loading validates
the shape so a typo in an override fails before any host is touched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

from sagefleet.errors import InputError, field_error, mapping_items

# The catalog files shipped in this package.
SHIPPED = ("dotnet", "endpoints", "sage")


@cache
def load(name: str) -> dict[str, Any]:
    """A shipped catalog file, parsed."""
    text = resources.files(__name__).joinpath(f"{name}.yml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise InputError(f"catalog {name}.yml must be a mapping")
    return data


@dataclass(frozen=True)
class Endpoint:
    """One outbound endpoint the agent needs."""

    name: str
    port: int
    tls: bool
    required: bool = True
    # What an FQDN-based firewall must also allow for it (e.g. *.s3.eu-west-3.amazonaws.com).
    firewall_names: tuple[str, ...] = ()

    def to_param(self) -> dict[str, Any]:
        return {"name": self.name, "port": self.port, "tls": self.tls}


_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
    r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"
)


def endpoints(override: Any = None, *, host: str | None = None) -> list[Endpoint]:
    """The endpoint list: the shipped default, or ``sagefleet_endpoints`` from the inventory."""
    raw = load("endpoints")["endpoints"] if override is None else override
    result = []
    for where, item in mapping_items(
        raw,
        host=host,
        field="sagefleet_endpoints",
        expected="a non-empty list of {name, port, tls}",
        fix="see roles/sagefleet_preflight/defaults",
    ):
        name, port = item.get("name"), item.get("port")
        if not isinstance(name, str) or not _HOSTNAME.match(name):
            fix = "e.g. s3.eu-west-3.amazonaws.com"
            raise field_error(host, f"{where}.name", name, "name must be a DNS host name", fix)
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise field_error(host, f"{where}.port", port, "port must be an integer 1-65535")
        tls = item.get("tls", port == 443)
        required = item.get("required", True)
        if not isinstance(tls, bool) or not isinstance(required, bool):
            raise InputError(
                "tls and required must be true or false",
                host=host,
                field=where,
                value=repr(item)[:80],
            )
        extra = item.get("firewall_names", [])
        if not isinstance(extra, list) or not all(
            isinstance(n, str) and _HOSTNAME.match(n.removeprefix("*.")) for n in extra
        ):
            raise InputError(
                "firewall_names must be a list of DNS names (a leading *. allowed)",
                host=host,
                field=f"{where}.firewall_names",
                value=repr(extra)[:80],
            )
        unknown = set(item) - {"name", "port", "tls", "required", "firewall_names"}
        if unknown:
            raise InputError(
                f"unknown keys {sorted(unknown)}",
                host=host,
                field=where,
                fix="use name, port, tls, required and firewall_names",
            )
        result.append(
            Endpoint(
                name=name.lower(),
                port=port,
                tls=tls,
                required=required,
                firewall_names=tuple(n.lower() for n in extra),
            )
        )
    return result


@dataclass(frozen=True)
class SageVersion:
    major: int
    installer: str
    objets_metiers: str


@dataclass(frozen=True)
class SageCatalog:
    minimum_major: int
    versions: tuple[SageVersion, ...]
    product_pattern: str
    objets_metiers_pattern: str
    # Majors the older Sage 100 i7 generation also used (SF202 must see the 100c one).
    i7_majors: tuple[int, ...] = (7, 8)

    def for_major(self, major: int) -> SageVersion | None:
        return next((v for v in self.versions if v.major == major), None)


def sage(override: Any = None, *, host: str | None = None) -> SageCatalog:
    raw = load("sage") if override is None else override
    field = "sagefleet_sage_catalog"
    try:
        versions = tuple(
            SageVersion(int(v["major"]), str(v["installer"]), str(v["objets_metiers"]))
            for v in raw["versions"]
        )
        catalog = SageCatalog(
            minimum_major=int(raw["minimum_major"]),
            versions=versions,
            product_pattern=str(raw.get("product_pattern", load("sage")["product_pattern"])),
            objets_metiers_pattern=str(
                raw.get("objets_metiers_pattern", load("sage")["objets_metiers_pattern"])
            ),
            i7_majors=tuple(int(m) for m in raw.get("i7_majors", load("sage")["i7_majors"])),
        )
        re.compile(catalog.product_pattern)
        re.compile(catalog.objets_metiers_pattern)
    except (KeyError, TypeError, ValueError, re.error) as exc:
        raise InputError(
            f"malformed Sage catalog: {exc}",
            host=host,
            field=field,
            fix="copy src/sagefleet/catalog/sage.yml and edit it",
        ) from exc
    return catalog


@dataclass(frozen=True)
class DotnetCatalog:
    minimum_release: int
    releases: tuple[tuple[int, str], ...]
    remediation_by_build: tuple[tuple[int, str, str], ...]
    remediation_unknown_build: tuple[str, str]

    def version_of(self, release: int) -> str:
        for number, version in self.releases:
            if release >= number:
                return version if release == number else f"{version} or later"
        return "older than 4.5"

    def remediation(self, build: int | None, lang: str) -> str:
        """What to install on this Windows build; no build (or 0, which no Windows has):
        the advice for any supported Windows, never a migration."""
        if build:
            for min_build, en, fr in self.remediation_by_build:
                if build >= min_build:
                    return fr if lang == "fr" else en
        en, fr = self.remediation_unknown_build
        return fr if lang == "fr" else en


def dotnet() -> DotnetCatalog:
    raw = load("dotnet")
    return DotnetCatalog(
        minimum_release=int(raw["minimum_release"]),
        releases=tuple(
            sorted(((int(r["release"]), str(r["version"])) for r in raw["releases"]), reverse=True)
        ),
        remediation_by_build=tuple(
            (int(r["min_build"]), str(r["en"]), str(r["fr"])) for r in raw["remediation_by_build"]
        ),
        remediation_unknown_build=(
            str(raw["remediation_unknown_build"]["en"]),
            str(raw["remediation_unknown_build"]["fr"]),
        ),
    )

"""`sagefleet sim twin`: host profiles of simulated twins, from facts collected on real servers.

Accepted inputs, what a twin holds and what keeps the simulator's defaults:
docs/simulator.md, "Twins of a real fleet".
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sagefleet import __version__, catalog
from sagefleet.errors import InputError
from sagefleet.facts import FactsError, HostFacts, parse_facts, parse_utc
from sagefleet.sim import host_profiles
from sagefleet.sim.host import (
    DNS_STATUSES,
    DRIVE_TYPES,
    TCP_RESULTS,
    ProfileError,
    host_from_profile,
)
from sagefleet.sim.host.pki import PUBLIC_INTERMEDIATES
from sagefleet.sim.host.products import (
    AGENT_FOLDER,
    AGENT_SERVICE,
    AZURE_KEY,
    NETFX,
    OM_FOLDER,
    SAGE_ROOT,
    SPC_MARKER_KEY,
    sage_brand,
)

#: The Sage programs the facts report, and the product each one belongs to.
PRODUCT_OF_EXECUTABLE = {
    "maestria.exe": "comptabilite",
    "gecomaes.exe": "gestion_commerciale",
    "mopamaes.exe": "moyens_de_paiement",
}
#: The facts snippet's document members a twin reads (the contract of sagefleet.facts).
KNOWN_MEMBERS = frozenset(
    {
        "schema",
        "host",
        "drives",
        "dotnet",
        "tls",
        "proxy",
        "sage",
        "objets_metiers",
        "azure",
        "agent",
        "mae_files",
        "probes",
    }
)
_WMI_STATES = {"Start Pending": "StartPending", "Stop Pending": "StopPending"}
_NETFX_32 = NETFX.replace("HKLM\\SOFTWARE\\", "HKLM\\SOFTWARE\\WOW6432Node\\", 1)
#: Below this, a difference between the host's and the bastion's clocks is the round trip.
_SKEW_NOISE_S = 2


@dataclass
class Collected:
    """One server's facts, where they came from, and the bastion's time when gathered."""

    source: str
    document: dict[str, Any]
    bastion_utc: dt.datetime | None = None


@dataclass
class Twin:
    """A twin's profile and what its header comment must say."""

    name: str
    hostname: str
    source: str
    profile: dict[str, Any]
    defaults: list[str] = field(default_factory=list)
    approximations: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Written:
    source: str
    hostname: str
    path: Path


def _bad(path: str, message: str, fix: str | None = None) -> InputError:
    return InputError(
        message,
        field="FACTS",
        value=path,
        fix=fix
        or "give the JSON the offline collector wrote, a selftest transcript (.zip) or its "
        "snippets/NN-facts.json, or a support bundle (.zip)",
    )


def _json(data: bytes, where: str) -> Any:
    try:
        return json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _bad(where, f"not JSON ({exc})") from None


def _from_document(doc: Any, where: str) -> dict[str, Any]:
    """The facts document inside whatever JSON ``doc`` is (a facts doc or a selftest record)."""
    if isinstance(doc, Mapping) and "schema" in doc:
        return dict(doc)
    if isinstance(doc, Mapping) and doc.get("snippet") == "facts":
        if not doc.get("ok") or not isinstance(doc.get("output"), Mapping):
            raise _bad(where, "this selftest record holds no facts (the snippet failed)")
        return dict(doc["output"])
    raise _bad(where, "not a facts document (no 'schema' member)")


def _selftest_time(summary: Any, record_name: str) -> dt.datetime | None:
    """The bastion's time when the facts snippet ran, from the transcript's summary."""
    if not isinstance(summary, Mapping):
        return None
    started = parse_utc(str(summary.get("started_at") or "").replace("+00:00", "Z"))
    runs = summary.get("snippets")
    if started is None or not isinstance(runs, list):
        return None
    before = 0.0
    for run in runs:
        if not isinstance(run, Mapping):
            return None
        duration = float(run.get("duration_s") or 0.0)
        if run.get("snippet") == "facts":
            return started + dt.timedelta(seconds=before + duration / 2)
        before += duration
    return None


def read_sources(path: Path) -> Collected:
    """The facts of one server from a facts file, selftest record or transcript, or bundle."""
    where = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _bad(where, f"cannot be read ({exc.strerror or exc})") from None
    if not zipfile.is_zipfile(io.BytesIO(data)):
        return Collected(path.name, _from_document(_json(data, where), where))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        records = sorted(n for n in names if re.fullmatch(r"snippets/\d+-facts\.json", n))
        if records:  # a selftest transcript
            document = _from_document(_json(archive.read(records[0]), where), where)
            summary = (
                _json(archive.read("selftest.json"), where) if "selftest.json" in names else None
            )
            return Collected(
                f"{path.name}:{records[0]}", document, _selftest_time(summary, records[0])
            )
        if "facts.json" in names:  # a support bundle
            document = _from_document(_json(archive.read("facts.json"), where), where)
            manifest = (
                _json(archive.read("manifest.json"), where) if "manifest.json" in names else {}
            )
            collected = (
                parse_utc(str(manifest.get("collected_at") or "").replace("+00:00", "Z"))
                if isinstance(manifest, Mapping)
                else None
            )
            return Collected(f"{path.name}:facts.json", document, collected)
    raise _bad(where, "this zip holds no facts (no snippets/NN-facts.json, no facts.json)")


# -- facts -> profile ---------------------------------------------------------------


def _sage(facts: HostFacts, twin: Twin) -> dict[str, Any] | None:
    products: list[str] = []
    version: str | None = None
    for exe in facts.sage_executables:
        product = PRODUCT_OF_EXECUTABLE.get(exe.name.lower())
        if product is None:
            continue
        if product not in products:
            products.append(product)
        if product == "comptabilite" or version is None:
            version = exe.product_version or version
        folder = (exe.path or "").rsplit("\\", 2)[0]
        if exe.path and folder.lower() != SAGE_ROOT.lower():
            twin.approximations.append(
                f"{exe.name} is at {exe.path} on the server; the twin installs it under {SAGE_ROOT}"
            )
    if version is None and facts.sage_uninstall:
        version = facts.sage_uninstall[0].display_version
        if version:
            twin.approximations.append(
                "Sage's version comes from its uninstall entry (the facts have no program version)"
            )
    if not version:
        if facts.sage_uninstall or facts.sage_products:
            twin.approximations.append(
                "the facts name Sage without a version: the twin has no Sage"
            )
        return None
    sage: dict[str, Any] = {"version": version}
    if products and products != ["comptabilite"]:
        sage["products"] = products
    if products and "comptabilite" not in products:
        twin.approximations.append("the twin always installs Comptabilité with Sage")
    try:
        major = int(version.split(".")[0])
    except ValueError:
        major = None
    if major is not None:
        names = sorted(u.display_name for u in facts.sage_uninstall)
        derived = sorted(
            f"{sage_brand(major)} {label}"
            for label, product in (
                ("Comptabilité", "comptabilite"),
                ("Gestion commerciale", "gestion_commerciale"),
                ("Moyens de paiement", "moyens_de_paiement"),
            )
            if product in (products or ["comptabilite"])
        )
        if names and names != derived:
            twin.approximations.append(
                f"Sage's uninstall entries are named {', '.join(derived)} (the model's names "
                f"for version {version}); the server's: {', '.join(names)}"
            )
    files = facts.objets_metiers_files
    if not files:
        sage["objets_metiers"] = None
        if facts.objets_metiers_uninstall:
            twin.approximations.append(
                "the server has an Objets Métiers uninstall entry but no objets100c.dll the "
                "facts found: the twin has neither"
            )
    else:
        om_version = files[0].file_version
        om: dict[str, Any] = {"uninstall_entry": bool(facts.objets_metiers_uninstall)}
        if om_version:
            om["version"] = om_version
        else:
            twin.defaults.append(
                "sage.objets_metiers.version: the version matching Sage (the facts give none)"
            )
        sage["objets_metiers"] = om
        folder = files[0].path.rsplit("\\", 1)[0]
        if folder.lower() != OM_FOLDER.lower():
            twin.approximations.append(
                f"objets100c.dll is in {folder} on the server; the twin has it in {OM_FOLDER}"
            )
    if facts.spc_marker is not None:
        sage["spc_marker"] = facts.spc_marker
    return sage


def _agent(facts: HostFacts, twin: Twin) -> dict[str, Any] | None:
    agent = facts.agent
    if not agent.installed:
        return None
    spec: dict[str, Any] = {}
    if agent.version:
        spec["version"] = agent.version
    else:
        spec["version"] = "0.0.0"
        twin.approximations.append(
            "agent.version: 0.0.0 (the facts could not read the agent program's version)"
        )
    state = _WMI_STATES.get(agent.state or "", agent.state or "")
    if state in ("Running", "Stopped", "StartPending", "StopPending"):
        spec["state"] = state
    else:
        spec["state"] = "Stopped"
        twin.approximations.append(
            f"agent.state: Stopped (the server's state {agent.state!r} is not modelled)"
        )
    if agent.start_mode in ("Auto", "Manual", "Disabled"):
        spec["start_mode"] = agent.start_mode
    if agent.account:
        spec["account"] = agent.account
    if agent.service_name and agent.service_name != AGENT_SERVICE:
        spec["service_name"] = agent.service_name
    if agent.path and "\\" in agent.path:
        folder = agent.path.rsplit("\\", 1)[0]
        if folder.lower() != AGENT_FOLDER.lower():
            spec["folder"] = folder
    twin.defaults.append(
        "agent.settings: one connection per .MAE file in the simulator's stand-in vendor "
        "layout (settings.json is not in the facts, and it holds secrets)"
    )
    twin.defaults.append("agent.product_version: the agent's version (not in the facts)")
    return spec


def _size(count: int) -> int | str:
    """Bytes as a profile writes them: "127 GB" when a whole number of a unit, else bytes."""
    for unit, factor in (("TB", 1024**4), ("GB", 1024**3), ("MB", 1024**2)):
        if count and count % factor == 0:
            return f"{count // factor} {unit}"
    return count


def _drives(facts: HostFacts, twin: Twin) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    drives: list[dict[str, Any]] = []
    shares: list[dict[str, Any]] = []
    unknown_sizes = []
    for drive in facts.drives:
        letter = drive.name.rstrip(":\\").upper()
        if not re.fullmatch(r"[A-Z]", letter):
            continue
        spec: dict[str, Any] = {"letter": letter}
        kind = drive.drive_type if drive.drive_type in DRIVE_TYPES else "fixed"
        if kind != drive.drive_type:
            twin.approximations.append(
                f"drive {letter}: is {drive.drive_type!r}; the twin's is fixed"
            )
        if kind != "fixed":
            spec["type"] = kind
        if kind == "network":
            if not drive.provider:
                twin.approximations.append(
                    f"drive {letter}: a network drive without its share: left out"
                )
                continue
            spec["provider"] = drive.provider
            share: dict[str, Any] = {"unc": drive.provider}
            if drive.size_bytes is not None and drive.free_bytes is not None:
                share.update(size=_size(drive.size_bytes), free=_size(drive.free_bytes))
            else:
                unknown_sizes.append(drive.provider)
            shares.append(share)
        elif drive.size_bytes is not None and drive.free_bytes is not None:
            spec.update(size=_size(drive.size_bytes), free=_size(drive.free_bytes))
        else:
            unknown_sizes.append(f"{letter}:")
        drives.append(spec)
    if unknown_sizes:
        twin.defaults.append(
            f"size and free space of {', '.join(unknown_sizes)}: the simulator's defaults "
            "(not in the facts)"
        )
    for mae in facts.mae_files:
        # A WinRM session lists none of the interactive user's mapped drives; the facts
        # name the letter of a .MAE found through the user's mapping, not its share.
        letter = mae.path[:1].upper()
        if mae.mapped_drive and not any(d["letter"] == letter for d in drives):
            unc = f"\\\\twin-share\\{letter.lower()}"
            drives.append({"letter": letter, "type": "network", "provider": unc})
            shares.append({"unc": unc})
            twin.approximations.append(
                f"drive {letter}: a user's mapped network drive, whose share the facts do not "
                f"name: the twin maps it to {unc}"
            )
    if not any(d["letter"] == "C" for d in drives):
        drives.insert(0, {"letter": "C"})
        twin.defaults.append("drive C: with the simulator's default size (not in the facts)")
    return drives, shares


def _mae(facts: HostFacts, hostname: str, twin: Twin) -> list[dict[str, Any]]:
    entries = []
    for mae in facts.mae_files:
        if not mae.exists and mae.verifiable:
            twin.approximations.append(
                f"{mae.path} is missing on the server: the twin has no such file (its "
                "entity is not in the twin's inventory; add it by hand to rehearse that)"
            )
            continue
        entry: dict[str, Any] = {"path": mae.path}
        if mae.serveur_sql:
            entry["server"] = mae.serveur_sql
        else:
            entry["server"] = f"{hostname}\\SAGE100"
            twin.defaults.append(
                f"{mae.path}: ServeurSQL={hostname}\\SAGE100 (the facts could not read the "
                "file from a remote session)"
            )
        if mae.type:
            entry["type"] = mae.type
        entries.append(entry)
    if entries:
        twin.defaults.append(".MAE files: Createur=<Administrateur> (not in the facts)")
    return entries


def _network(facts: HostFacts, twin: Twin) -> dict[str, Any]:
    dns: dict[str, Any] = {}
    tcp: dict[str, str] = {}
    tls: dict[str, Any] = {}
    intercepted: dict[str, dict[str, Any]] = {}
    latency: dict[str, int] = {}
    for probe in facts.probes:
        name = probe.name.lower()
        if not name or not probe.port:
            continue
        status = probe.dns.status or "ok"
        if status == "ok":
            dns[name] = list(probe.dns.addresses)
        elif status in DNS_STATUSES:
            dns[name] = status
        else:
            dns[name] = "servfail"
            twin.approximations.append(
                f"{name}: DNS said {status!r} ({probe.dns.error}); the twin answers servfail"
            )
        target = f"{name}:{probe.port}"
        if probe.tcp.ok:
            tcp[target] = "ok"
            if probe.tcp.elapsed_ms is not None:
                latency[target] = probe.tcp.elapsed_ms
        elif probe.tcp.error in TCP_RESULTS:
            tcp[target] = str(probe.tcp.error)
        result = probe.tls_result
        if result is None:
            continue
        key = name if probe.port == 443 else target
        if result.issuer and result.issuer not in PUBLIC_INTERMEDIATES and probe.port == 443:
            # Not a public CA the simulator knows: a TLS-inspecting proxy re-signing the
            # host's HTTPS (the twin models one for the whole host, as a proxy is).
            intercepted[name] = {
                "issuer": result.issuer,
                "protocols": [result.protocol or "TLSv1.2"],
                "installed": result.root_in_root is not False,
            }
            continue
        if result.ok:
            tls[key] = {
                "issuer": result.issuer or "unknown",
                **({"subject": result.subject} if result.subject else {}),
                "protocols": [result.protocol or "TLSv1.2"],
                **({"not_after": result.not_after} if result.not_after else {}),
            }
        elif facts.tls.schannel_tls12_enabled != 0:
            if "common algorithm" in (result.error or ""):
                tls[key] = {"issuer": result.issuer or "unknown", "protocols": ["TLSv1.3"]}
            else:
                twin.approximations.append(
                    f"{target}: the TLS handshake failed ({result.error}); the twin's server "
                    "presents its default certificate"
                )
    network: dict[str, Any] = {}
    if dns:
        network["dns"] = dns
    if tcp:
        network["tcp"] = tcp
    if tls:
        network["tls"] = tls
    if intercepted:
        first = next(iter(intercepted.values()))
        network["intercept_tls"] = {
            **first,
            **({"except": sorted(tls)} if tls else {}),
        }
        issuers = {i["issuer"] for i in intercepted.values()}
        if len(issuers) > 1:
            twin.approximations.append(
                f"TLS: several private issuers ({', '.join(sorted(issuers))}); the twin's "
                f"proxy presents {first['issuer']} for all of them"
            )
    if latency:
        network["latency_ms"] = latency
    if facts.winhttp_proxy:
        network["winhttp_proxy"] = {
            "server": facts.winhttp_proxy,
            **({"bypass": facts.winhttp_bypass} if facts.winhttp_bypass else {}),
        }
    probed = {p.name.lower() for p in facts.probes}
    unprobed = [e.name for e in catalog.endpoints() if e.name.lower() not in probed]
    if unprobed:
        twin.defaults.append(
            f"endpoints the facts did not probe ({', '.join(sorted(set(unprobed)))}): open, "
            "as the simulator's default"
        )
    return network


def _tls(facts: HostFacts, twin: Twin, registry: dict[str, Any]) -> dict[str, Any]:
    tls = facts.tls
    spec: dict[str, Any] = {
        "strong_crypto": tls.netfx_x64_strong_crypto,
        "system_default_tls": tls.netfx_x64_system_default,
    }
    x86 = {
        "SchUseStrongCrypto": tls.netfx_x86_strong_crypto,
        "SystemDefaultTlsVersions": tls.netfx_x86_system_default,
    }
    if (x86["SchUseStrongCrypto"], x86["SystemDefaultTlsVersions"]) != (
        spec["strong_crypto"],
        spec["system_default_tls"],
    ):
        registry[_NETFX_32] = x86
    schannel = {
        k: v
        for k, v in (
            ("Enabled", tls.schannel_tls12_enabled),
            ("DisabledByDefault", tls.schannel_tls12_disabled_by_default),
        )
        if v is not None
    }
    if schannel:
        spec["schannel_tls12_client"] = schannel
    return spec


def twin_of(collected: Collected) -> Twin:
    """The twin profile of one server's facts (validated, and built once by the model)."""
    try:
        facts = parse_facts(collected.document)
    except FactsError as exc:
        raise _bad(collected.source, str(exc)) from None
    identity = facts.identity
    hostname = identity.hostname
    if not hostname:
        raise _bad(collected.source, "the facts have no host name (host.hostname)")
    twin = Twin(name=hostname.lower(), hostname=hostname, source=collected.source, profile={})
    profile: dict[str, Any] = {
        "description": f"Twin of {hostname}, from facts in {collected.source}",
        "hostname": hostname,
    }
    for key in ("os_caption", "os_version", "os_build", "powershell_version"):
        value = getattr(identity, key)
        if value is not None:
            profile[key] = value
        else:
            twin.defaults.append(f"{key}: the simulator's default (not in the facts)")
    if identity.part_of_domain and identity.domain:
        profile["domain"] = identity.domain
    if identity.language_mode in (
        "FullLanguage",
        "ConstrainedLanguage",
        "RestrictedLanguage",
        "NoLanguage",
    ):
        profile["language_mode"] = identity.language_mode
    on_azure = bool(facts.azure_guest_agent)
    profile["edition"] = "spc" if on_azure else "onpremise"
    registry: dict[str, Any] = {}
    if on_azure and facts.azure_registry_key is False:
        registry[AZURE_KEY] = None
    elif not on_azure and facts.azure_registry_key:
        registry[AZURE_KEY] = {"VmId": f"twin-of-{hostname.lower()}"}
    host_time = parse_utc(identity.utc_now)
    if collected.bastion_utc is not None and host_time is not None:
        skew = round((host_time - collected.bastion_utc).total_seconds())
        if abs(skew) >= _SKEW_NOISE_S:
            profile["clock_skew_s"] = skew
        twin.approximations.append(
            "clock_skew_s: the host's clock against the bastion's when the facts were "
            "gathered, to about a second"
        )
    else:
        twin.defaults.append(
            "clock_skew_s: 0 (a facts file alone does not say the bastion's time; a selftest "
            "transcript or a support bundle does)"
        )
    profile["dotnet_release"] = facts.dotnet_release
    profile["tls"] = _tls(facts, twin, registry)
    sage = _sage(facts, twin)
    if sage is not None:
        profile["sage"] = sage
    elif facts.spc_marker:
        registry[SPC_MARKER_KEY] = {"Version": "unknown"}
    mae = _mae(facts, hostname, twin)
    if mae:
        profile["mae"] = mae
    agent = _agent(facts, twin)
    if agent is not None:
        profile["agent"] = agent
    drives, shares = _drives(facts, twin)
    profile["drives"] = drives
    if shares:
        profile["shares"] = shares
    network = _network(facts, twin)
    if network:
        profile["network"] = network
    if registry:
        profile["registry"] = registry
    twin.defaults += [
        "ui_language: en-US (the names of built-in accounts are not in the facts)",
        "fips: false (the FIPS policy is not in the facts)",
        "winrm: Basic allowed, unencrypted refused, no delegation (the simulator's default)",
        'accounts holding "Log on as a service": the agent\'s (not in the facts)',
        "file and folder permissions: Windows Server's defaults (not in the facts)",
        "other services and installed programs: none (not in the facts)",
    ]
    ignored = sorted(set(collected.document) - KNOWN_MEMBERS)
    if ignored:
        twin.approximations.append(f"facts not used by the twin: {', '.join(ignored)}")
    twin.profile = profile
    try:
        host_profiles.check(profile, f"twin of {collected.source}")
        host_from_profile(twin.name, "127.0.0.1", "twin", "twin", {**profile, "profile": twin.name})
    except ProfileError as exc:
        raise _bad(collected.source, f"the facts make no valid profile: {exc}") from None
    return twin


def render(twin: Twin) -> str:
    """The profile's YAML with its header comment: source, defaults, approximations."""
    lines = [
        f"# Simulated twin of {twin.hostname}, written by `sagefleet sim twin` "
        f"(sagefleet {__version__}) from {twin.source}.",
        "# Start it with: sagefleet sim up --hosts 1 --profile-file THIS_FILE",
        "#",
        "# Not in the facts, left at the simulator's safe defaults:",
        *(f"#   - {item}" for item in twin.defaults),
    ]
    if twin.approximations:
        lines += ["#", "# Approximations:", *(f"#   - {item}" for item in twin.approximations)]
    body = yaml.safe_dump(twin.profile, sort_keys=False, allow_unicode=True, width=100)
    return "\n".join(lines) + "\n" + body


def write_twins(paths: list[Path], out: Path) -> list[Written]:
    """Read every facts file first (any error stops before a profile is written), then write."""
    twins = [twin_of(read_sources(path)) for path in paths]
    seen: dict[str, str] = {}
    for twin in twins:
        if twin.name in seen:
            raise _bad(
                twin.source,
                f"the host name {twin.hostname} is also in {seen[twin.name]}: one facts "
                "file per server",
                fix="give each server's facts once",
            )
        seen[twin.name] = twin.source
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for twin in twins:
        path = out / f"{twin.name}.yml"
        path.write_text(render(twin), encoding="utf-8")
        written.append(Written(twin.source, twin.hostname, path))
    return written

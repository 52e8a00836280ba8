"""What the Sage and agent installations leave on disk and in the registry (the catalogue)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sagefleet import catalog
from sagefleet.agent import profile as agent_profile
from sagefleet.sim.host.registry import Registry

SAGE_PRODUCTS: dict[str, dict[str, str]] = {
    "comptabilite": {
        "key": "Comptabilité 100c",
        "folder": "iComptabilité",
        "exe": "Maestria.exe",
        "display": "Comptabilité",
    },
    "gestion_commerciale": {
        "key": "Gestion Commerciale 100c",
        "folder": "iGestion commerciale",
        "exe": "GecoMaes.exe",
        "display": "Gestion commerciale",
    },
    "moyens_de_paiement": {
        "key": "Moyens de paiement 100c",
        "folder": "iMoyens de paiement",
        "exe": "MopaMaes.exe",
        "display": "Moyens de paiement",
    },
}
#: Objets Métiers version that matches a Sage major version (the shipped catalog).
MATCHING_OM = {int(v["major"]): str(v["objets_metiers"]) for v in catalog.load("sage")["versions"]}
SAGE_ROOT = "C:\\Program Files (x86)\\Sage"


def sage_brand(major: int) -> str:
    """The brand Sage 100 (France) uninstall entries carry for a major version.

    "Sage 100c", renamed "Sage 100cloud" around v4-v5 (the model takes v4), then
    "Sage 100" from v10 (domain facts; the exact strings are not published).
    """
    return "Sage 100c" if major < 4 else ("Sage 100cloud" if major < 10 else "Sage 100")


OM_FOLDER = "C:\\Program Files (x86)\\Common Files\\Sage\\Objets métiers"
OM_DLL = OM_FOLDER + "\\objets100c.dll"
#: The Objets Métiers COM classes (class -> CLSID, ProgID), registered by the DLL under
#: HKLM\SOFTWARE\Classes\CLSID\{...}\InprocServer32 (32-bit view for a 32-bit DLL).
OM_CLASSES = {
    "Cpta": ("{309DE0FB-9FB8-4F4E-8295-CC60C60DAA33}", "Objets100c.Cpta.Stream.1"),
    "Cial": ("{ED0EC116-16B8-44CC-A68A-41BF6E15EB3F}", "Objets100c.Cial.Stream.1"),
}
CLSID_ROOT = "HKLM\\SOFTWARE\\Classes\\CLSID"
UNINSTALL = "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall"
NDP_V4 = "HKLM\\SOFTWARE\\Microsoft\\NET Framework Setup\\NDP\\v4\\Full"
NETFX = "HKLM\\SOFTWARE\\Microsoft\\.NETFramework\\v4.0.30319"
#: NDP\v4\Full ``Version`` per ``Release`` (Microsoft's release table: 4.7.2, 4.8, 4.8.1).
NDP_VERSIONS = {
    461808: "4.7.03062",
    461814: "4.7.03062",
    528040: "4.8.03761",
    528049: "4.8.03761",
    528372: "4.8.04084",
    528449: "4.8.04161",
    533320: "4.8.09032",
    533325: "4.8.09032",
}
SCHANNEL_TLS12 = (
    "HKLM\\SYSTEM\\CurrentControlSet\\Control\\SecurityProviders\\SCHANNEL"
    "\\Protocols\\TLS 1.2\\Client"
)
AZURE_KEY = "HKLM\\SOFTWARE\\Microsoft\\Windows Azure"
FIPS_POLICY_KEY = "HKLM\\SYSTEM\\CurrentControlSet\\Control\\Lsa\\FipsAlgorithmPolicy"
#: Marker of a Sage Partner Cloud VM (a guess: overridable in the facts snippet params).
SPC_MARKER_KEY = "HKLM\\SOFTWARE\\WOW6432Node\\Sage\\SPC"
#: Interactive user whose persistent drive mappings live under HKU (for mapped drives);
#: the WinRM account is that user too (its hive, HKU\\<SID>, is loaded in its sessions).
USER_SID = "S-1-5-21-1004336348-1177238915-682003330-1001"
#: A user's proxy settings (Internet Options, WinINET), under HKU\\<SID> or HKLM.
INTERNET_SETTINGS = "Software\\Microsoft\\Windows\\CurrentVersion\\Internet Settings"
#: Machine-wide proxy policy: ProxySettingsPerUser=0 makes every account use HKLM's settings.
PROXY_POLICY_KEY = "HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows\\CurrentVersion\\Internet Settings"

#: ASSUMPTION: the agent's service name, display name and folder are not documented;
#: they come from the shipped agent profile so every front door agrees.
AGENT_SERVICE = str(agent_profile.default().service_name)
AGENT_FOLDER = agent_profile.default().install_dir
AGENT_DISPLAY_NAME = str(agent_profile.default().service_display_name)
AGENT_EXE = "SpendeskSageAgent.exe"
#: Inno Setup names its uninstall key ``<AppId>_is1`` (the installer type is a guess).
AGENT_UNINSTALL_KEY = f"{AGENT_DISPLAY_NAME}_is1"
#: ASSUMPTION: disk space an agent installation takes.
AGENT_INSTALL_BYTES = 60 * 1024**2


def uninstall_key(name: str) -> str:
    return "{" + str(uuid.uuid5(uuid.NAMESPACE_URL, "sagefleet:" + name)).upper() + "}"


def agent_uninstall_entry(registry: Registry, version: str, folder: str) -> None:
    key = f"{UNINSTALL}\\{AGENT_UNINSTALL_KEY}"
    for name, value in (
        ("DisplayName", AGENT_DISPLAY_NAME),
        ("DisplayVersion", version),
        ("InstallLocation", folder + "\\"),
        ("Publisher", "Spendesk"),
    ):
        registry.set(key, name, value, view="32")


def mae_text(server: str, creator: str = "<Administrateur>", kind: str = "SQL") -> bytes:
    """A .MAE pointer file as Sage writes it (INI-like, ANSI)."""
    text = f"[CBASE]\r\nServeurSQL={server}\r\nCreateur={creator}\r\nType={kind}\r\n"
    return text.encode("cp1252")


SQL_LOGIN_RESULTS = ("ok", "failed")


@dataclass
class AgentBehaviour:
    """How the simulated agent program behaves once its service runs (sim/host/agent_runtime.py).

    Durations are simulated seconds (scaled by the host's ``time_scale``, as service
    starts are): ``connect_after_s`` from the process start to its connections;
    with ``sql_login: failed`` the agent stops polling ``stop_after_s`` after start.
    ``log``: whether it writes the simulator's stand-in log (``<folder>\\logs``).
    """

    connect_after_s: float = 3.0
    sql_login: str = "ok"
    stop_after_s: float = 60.0
    log: bool = True

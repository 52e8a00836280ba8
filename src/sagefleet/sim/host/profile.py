"""Build a simulated host from a YAML profile (docs/simulator.md, "Profiles").

Profiles describe a server at a high level (``dotnet_release``, ``sage``,
``agent``, ``mae``...); the builder derives the registry keys and files
Windows would hold. The low-level ``registry:`` and ``files:`` sections
override or add to that.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import uuid
from collections.abc import Iterable, Mapping
from importlib import resources
from typing import Any

import yaml

from sagefleet.agent import profile as agent_profile
from sagefleet.sim import vendor_layout
from sagefleet.sim.host.accounts import DEFAULT_ACLS, UI_LANGUAGES, Acl
from sagefleet.sim.host.errors import ModelError, ProfileError
from sagefleet.sim.host.filesystem import DRIVE_TYPES, Drive, Share, Volume, parse_size, win_path
from sagefleet.sim.host.host import WindowsHost, WinRMService
from sagefleet.sim.host.network import (
    DEFAULT_DNS,
    DEFAULT_ENDPOINTS,
    DEFAULT_ISSUERS,
    DNS_STATUSES,
    TCP_RESULTS,
    TLS_PROTOCOLS,
    AccountNetwork,
    DnsRule,
    TlsRule,
)
from sagefleet.sim.host.pki import PKI, PUBLIC_INTERMEDIATES
from sagefleet.sim.host.products import (
    AGENT_DISPLAY_NAME,
    AGENT_EXE,
    AGENT_FOLDER,
    AGENT_INSTALL_BYTES,
    AGENT_SERVICE,
    AZURE_KEY,
    CLSID_ROOT,
    FIPS_POLICY_KEY,
    INTERNET_SETTINGS,
    MATCHING_OM,
    NDP_V4,
    NDP_VERSIONS,
    NETFX,
    OM_CLASSES,
    OM_FOLDER,
    PROXY_POLICY_KEY,
    SAGE_PRODUCTS,
    SAGE_ROOT,
    SCHANNEL_TLS12,
    SPC_MARKER_KEY,
    SQL_LOGIN_RESULTS,
    UNINSTALL,
    USER_SID,
    agent_uninstall_entry,
    mae_text,
    sage_brand,
    uninstall_key,
)
from sagefleet.sim.host.services import PROFILE_FIELDS, SERVICE_STATES, START_MODES, Service

_FIELDS = {
    "hostname",
    "os_caption",
    "os_version",
    "os_build",
    "powershell_version",
    "clock_skew_s",
    "edition",
    "domain",
    "language_mode",
    "time_scale",
    "installer_failure",
    "hang_limit_s",
    "ui_language",
    "nettcpip_module",
}
_SECTIONS = {
    "dotnet_release",
    "tls",
    "sage",
    "agent",
    "mae",
    "drives",
    "shares",
    "services",
    "network",
    "registry",
    "files",
    "folders",
    "fips",
    "service_logon_right",
    "agent_behaviour",
}


def load_profile(name: str) -> dict[str, Any]:
    """Read a named profile shipped with the simulator."""
    path = resources.files("sagefleet.sim").joinpath("profiles", f"{name}.yml")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        known = ", ".join(profile_names())
        raise ProfileError(f"unknown simulator profile {name!r} (known: {known})") from exc
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
        raise ProfileError(f"profile {name!r} must be a mapping")
    data.setdefault("profile", name)
    return data


def profile_names() -> list[str]:
    folder = resources.files("sagefleet.sim").joinpath("profiles")
    return sorted(p.name[:-4] for p in folder.iterdir() if p.name.endswith(".yml"))


def _section(data: Any, allowed: set[str], where: str) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ProfileError(f"{where} must be a mapping, got {type(data).__name__}")
    unknown = set(data) - allowed
    if unknown:
        raise ProfileError(f"{where}: unknown keys {sorted(unknown)}")
    return dict(data)


def _choice(value: Any, allowed: Iterable[str], where: str) -> str:
    options = list(allowed)
    if value not in options:
        raise ProfileError(f"{where}: {value!r} is not one of {options}")
    return str(value)


def _stuck(value: Any, where: str) -> str | None:
    if value is None:
        return None
    return _choice(value, ("StopPending", "StartPending"), f"{where}: stuck")


def host_from_profile(
    name: str, address: str, username: str, password: str, profile: dict[str, Any]
) -> WindowsHost:
    """Build a host from profile data; unknown keys are an error, never ignored."""
    data = copy.deepcopy(profile)
    where = f"profile {data.get('profile')!r}"
    unknown = set(data) - _FIELDS - _SECTIONS - {"profile", "description", "winrm"}
    if unknown:
        raise ProfileError(f"{where}: unknown keys {sorted(unknown)}")
    winrm = data.pop("winrm", {}) or {}
    bad = set(winrm) - {"allow_basic", "allow_unencrypted", "delegation"}
    if bad:
        raise ProfileError(f"{where}: unknown winrm keys {sorted(bad)}")
    host = WindowsHost(
        name=name,
        address=address,
        username=username,
        password=password,
        profile=str(data.get("profile", "custom")),
        winrm=WinRMService(**winrm),
        **{k: v for k, v in data.items() if k in _FIELDS},
    )
    _choice(host.edition, ("onpremise", "spc"), f"{where}: edition")
    _choice(
        host.language_mode,
        ("FullLanguage", "ConstrainedLanguage", "RestrictedLanguage", "NoLanguage"),
        f"{where}: language_mode",
    )
    _choice(host.ui_language, UI_LANGUAGES, f"{where}: ui_language")
    # What the profile holds was set up before anything it runs started: its files are
    # stamped a day ago (the host's clock), its services' processes started an hour ago.
    host.fs.clock = lambda: host.utc_now() - dt.timedelta(days=1)
    try:
        _Builder(host, data, where).build()
    finally:
        host.fs.clock = host.utc_now
    host._rebuild = functools.partial(
        host_from_profile, name, address, username, password, copy.deepcopy(profile)
    )
    return host


class _Builder:
    """Derives registry keys, files, services and network rules from a profile."""

    def __init__(self, host: WindowsHost, data: dict[str, Any], where: str) -> None:
        self.host = host
        self.data = data
        self.where = where
        self.unreachable: list[str] = []

    def build(self) -> None:
        self._drives()
        self._windows()
        self._sage()
        self._mae()
        self._agent()
        self._agent_behaviour()
        self._services()
        self._logon_rights()
        self._network()
        self._low_level()
        # Seeded files exist on the share; the host just cannot reach it.
        for unc in self.unreachable:
            self.host.fs.shares[unc].reachable = False

    # drives and shares
    def _drives(self) -> None:
        fs = self.host.fs
        for item in self.data.get("shares") or []:
            spec = _section(item, {"unc", "size", "free", "reachable"}, f"{self.where}: shares[]")
            unc = win_path(str(spec["unc"]))
            fs.shares[unc.lower()] = Share(
                unc,
                Volume(
                    parse_size(spec.get("size", "500 GB"), self.where),
                    parse_size(spec.get("free", "200 GB"), self.where),
                ),
            )
            if not spec.get("reachable", True):
                self.unreachable.append(unc.lower())
        drives = self.data.get("drives") or [{"letter": "C"}]
        for item in drives:
            spec = _section(
                item,
                {"letter", "type", "size", "free", "provider", "persistent"},
                f"{self.where}: drives[]",
            )
            letter = str(spec["letter"]).rstrip(":\\").upper() + ":"
            kind = _choice(spec.get("type", "fixed"), DRIVE_TYPES, f"{self.where}: drive {letter}")
            provider = spec.get("provider")
            if kind == "network":
                if not provider:
                    raise ProfileError(f"{self.where}: network drive {letter} needs a provider")
                unc = win_path(str(provider))
                share = fs.shares.setdefault(unc.lower(), Share(unc))
                fs.drives[letter] = Drive(letter, kind, share.volume, unc)
                # The interactive user's mapping, of their logon session only; persistent
                # (the default) also in their hive, loaded under HKEY_USERS while logged on.
                key = f"HKU\\{USER_SID}\\Network\\{letter[0]}"
                if spec.get("persistent", True):
                    self.host.registry.set(key, "RemotePath", unc)
                continue
            volume = Volume(
                parse_size(spec.get("size", "127 GB"), self.where),
                parse_size(spec.get("free", "80 GB"), self.where),
            )
            fs.drives[letter] = Drive(letter, kind, volume, None)
        if "C:" not in fs.drives:
            raise ProfileError(f"{self.where}: a Windows server needs a C: drive")
        for folder in (
            "C:\\Windows",
            "C:\\Program Files",
            "C:\\Program Files (x86)",
            "C:\\ProgramData",
        ):
            fs.mkdir(folder, acl=DEFAULT_ACLS[folder])
        fs.mkdir("C:\\Windows\\Temp")

    # .NET, TLS, Azure
    def _windows(self) -> None:
        reg = self.host.registry
        release = self.data.get("dotnet_release", 528049)
        if release is not None:
            reg.set(NDP_V4, "Release", int(release))
            version = NDP_VERSIONS.get(int(release))
            if version is not None:  # unknown releases: the model does not invent one
                reg.set(NDP_V4, "Version", version)
        tls = _section(
            self.data.get("tls"),
            {"strong_crypto", "system_default_tls", "schannel_tls12_client"},
            f"{self.where}: tls",
        )
        for view in ("64", "32"):
            for value_name, key in (
                ("SchUseStrongCrypto", "strong_crypto"),
                ("SystemDefaultTlsVersions", "system_default_tls"),
            ):
                value = tls.get(key)  # not set unless the profile says, as on most servers
                if value is not None:
                    reg.set(NETFX, value_name, int(value), view=view)
        schannel = _section(
            tls.get("schannel_tls12_client"),
            {"Enabled", "DisabledByDefault"},
            f"{self.where}: tls.schannel_tls12_client",
        )
        for value_name, value in schannel.items():
            if value is not None:
                reg.set(SCHANNEL_TLS12, value_name, int(value))
        fips = self.data.get("fips", False)
        if not isinstance(fips, bool):
            raise ProfileError(f"{self.where}: fips must be true or false")
        if fips:
            # "System cryptography: Use FIPS compliant algorithms..." (security policy).
            reg.set(FIPS_POLICY_KEY, "Enabled", 1)
        if self.host.edition == "spc":
            reg.set(AZURE_KEY, "VmId", str(uuid.uuid5(uuid.NAMESPACE_DNS, self.host.hostname)))
            self.host.install_service(
                Service(
                    "WindowsAzureGuestAgent",
                    "Windows Azure Guest Agent",
                    "Running",
                    binary_path="C:\\WindowsAzure\\GuestAgent\\WindowsAzureGuestAgent.exe",
                )
            )

    # Sage and Objets Métiers
    def _sage(self) -> None:
        sage = _section(
            self.data.get("sage"),
            {"version", "products", "objets_metiers", "spc_marker", "generation"},
            f"{self.where}: sage",
        )
        if not sage:
            return
        reg, fs = self.host.registry, self.host.fs
        version = str(sage["version"])
        major = int(version.split(".")[0])
        # "i7": the older Sage 100 i7 generation (2013-2015), numbered 7.x and 8.x too,
        # with Objets100.dll; its key and product names here are a guess (not "100c").
        generation = _choice(sage.get("generation", "100c"), ("100c", "i7"), self.where)
        brand = sage_brand(major)
        for product in sage.get("products") or ["comptabilite"]:
            info = SAGE_PRODUCTS.get(product)
            if info is None:
                raise ProfileError(
                    f"{self.where}: unknown Sage product {product!r} "
                    f"(known: {sorted(SAGE_PRODUCTS)})"
                )
            key, display = info["key"], f"{brand} {info['display']}"
            if generation == "i7":
                key = key.removesuffix(" 100c") + " i7"
                display = f"Sage 100 {info['display']} i7"
            folder = f"{SAGE_ROOT}\\{info['folder']}"
            fs.mkdir(folder)
            fs.write(
                f"{folder}\\{info['exe']}",
                size=40 * 1024**2,
                product_version=version,
                file_version=version,
                reserve_space=False,
            )
            reg.set(f"HKLM\\SOFTWARE\\Sage\\{key}", "Path", folder + "\\", view="32")
            self._uninstall(display, version, folder + "\\", "Sage", view="32")
        # Objets Métiers: installed at the matching version unless the profile says
        # otherwise (a version string, a mapping, or null for "not installed"). The DLL
        # registers its COM classes (regsvr32): in the 32-bit view for the 32-bit DLL,
        # unless `views` says otherwise; `registered: false` leaves them out.
        om_spec = sage.get("objets_metiers", {})
        if om_spec is not None:
            om = _section(
                {"version": om_spec} if isinstance(om_spec, str) else om_spec,
                {"version", "uninstall_entry", "folder", "views", "registered"},
                f"{self.where}: sage.objets_metiers",
            )
            om_version = str(om.get("version") or MATCHING_OM.get(major, version))
            folder = win_path(str(om.get("folder") or OM_FOLDER))
            dll = folder + ("\\Objets100.dll" if generation == "i7" else "\\objets100c.dll")
            fs.mkdir(folder)
            fs.write(
                dll,
                size=9 * 1024**2,
                product_version=om_version,
                file_version=om_version,
                reserve_space=False,
            )
            views = om.get("views", ["32"])
            if not isinstance(views, list) or not views:
                raise ProfileError(f"{self.where}: sage.objets_metiers.views: a list of 64/32")
            if om.get("registered", True) and generation == "100c":
                for view in views:
                    view = _choice(str(view), ("64", "32"), f"{self.where}: objets_metiers")
                    for clsid, progid in OM_CLASSES.values():
                        key = f"{CLSID_ROOT}\\{clsid}"
                        reg.set(f"{key}\\InprocServer32", "", dll, view=view)
                        reg.set(f"{key}\\InprocServer32", "ThreadingModel", "Apartment", view=view)
                        reg.set(f"{key}\\ProgID", "", progid, view=view)
            if om.get("uninstall_entry", self.host.edition == "onpremise"):
                self._uninstall(
                    f"Sage 100 Objets Métiers {om_version}",
                    om_version,
                    folder + "\\",
                    "Sage",
                    view="32",
                )
        if sage.get("spc_marker", self.host.edition == "spc"):
            reg.set(SPC_MARKER_KEY, "Version", version)

    def _uninstall(
        self, display: str, version: str, location: str, publisher: str, view: str
    ) -> None:
        key = f"{UNINSTALL}\\{uninstall_key(display)}"
        reg = self.host.registry
        reg.set(key, "DisplayName", display, view=view)
        reg.set(key, "DisplayVersion", version, view=view)
        reg.set(key, "InstallLocation", location, view=view)
        reg.set(key, "Publisher", publisher, view=view)

    # .MAE pointer files
    def _mae(self) -> None:
        for item in self.data.get("mae") or []:
            spec = _section(item, {"path", "server", "creator", "type"}, f"{self.where}: mae[]")
            path = str(spec["path"])
            self.host.fs.mkdir(path.replace("/", "\\").rsplit("\\", 1)[0])
            self.host.fs.write(
                path,
                mae_text(
                    str(spec["server"]),
                    str(spec.get("creator", "<Administrateur>")),
                    str(spec.get("type", "SQL")),
                ),
                reserve_space=False,
            )

    # the Spendesk agent
    def _agent(self) -> None:
        agent = _section(
            self.data.get("agent"),
            {
                "version",
                "product_version",
                "state",
                "start_mode",
                "account",
                "service_name",
                "folder",
                "stuck",
                "settings",
                "running_for_s",
            },
            f"{self.where}: agent",
        )
        if not agent:
            return
        name = str(agent.get("service_name", AGENT_SERVICE))
        folder = str(agent.get("folder", AGENT_FOLDER))
        version = str(agent["version"])
        exe = f"{folder}\\{AGENT_EXE}"
        self.host.fs.mkdir(folder)
        self.host.fs.write(
            exe,
            size=AGENT_INSTALL_BYTES,
            product_version=str(agent.get("product_version") or version),
            file_version=version,
            reserve_space=False,
        )
        service = self.host.install_service(
            Service(
                name=name,
                display_name=AGENT_DISPLAY_NAME,
                state=_choice(agent.get("state", "Running"), SERVICE_STATES, self.where),
                start_mode=_choice(agent.get("start_mode", "Auto"), START_MODES, self.where),
                account=str(agent.get("account", "LocalSystem")),
                binary_path=f'"{exe}"',
                version=version,
                stuck=_stuck(agent.get("stuck"), self.where),
            )
        )
        running_for = agent.get("running_for_s", 3600)
        if isinstance(running_for, bool) or not isinstance(running_for, int | float):
            raise ProfileError(f"{self.where}: agent.running_for_s must be a number of seconds")
        self._running(service, float(running_for))
        agent_uninstall_entry(self.host.registry, version, folder)
        self._agent_settings(agent, folder)

    def _agent_settings(self, agent: dict[str, Any], folder: str) -> None:
        """The settings.json the vendor's installer left where the agent profile says.

        Absent from the profile: one connection per ``.MAE`` file, in the
        simulator's stand-in vendor layout, with what the stand-in installer adds
        (``vendor_layout.installed_document``); a mapping: that document; null: none.
        """
        if "settings" in agent and agent["settings"] is None:
            return
        document = agent.get("settings")
        if document is None:
            document = vendor_layout.installed_document(
                vendor_layout.entities_for(self.data),
                service_account=str(agent.get("account", "LocalSystem")),
            )
        elif not isinstance(document, Mapping):
            raise ProfileError(f"{self.where}: agent.settings must be a JSON object or null")
        path = agent_profile.default().settings_path(install_dir=folder)
        self.host.fs.write(path, vendor_layout.dumps(document), reserve_space=False)

    def _services(self) -> None:
        self.host.install_windows_services()  # a server's own, which the profile may change
        for item in self.data.get("services") or []:
            spec = _section(item, set(PROFILE_FIELDS), f"{self.where}: services[]")
            service = self.host.service(str(spec["name"]))
            if service is None:
                service = Service(name=str(spec["name"]))
                self.host.install_service(service)
            for key, value in spec.items():
                setattr(service, key, value)
            _choice(service.state, SERVICE_STATES, f"{self.where}: service {service.name}")
            _choice(service.start_mode, START_MODES, f"{self.where}: service {service.name}")
            service.stuck = _stuck(service.stuck, self.where)
            self._running(service)

    def _running(self, service: Service, running_for_s: float = 3600.0) -> None:
        """A service the profile has running: a process, started ``running_for_s`` ago, and
        its account holds the right to log on as a service (it was set up with
        services.msc, which grants it)."""
        if service.state != "Stopped":
            service.process_id = service.process_id or self.host._new_pid()
            service.process_account = service.process_account or service.account
            service.process_started = self.host.utc_now() - dt.timedelta(seconds=running_for_s)
            if not self.host.has_service_logon_right(service.account):
                self.host.service_logon_right.add(self.host._account_key(service.account))
        else:
            service.process_id = 0
            service.process_started = None

    def _agent_behaviour(self) -> None:
        spec = _section(
            self.data.get("agent_behaviour"),
            {"connect_after_s", "sql_login", "log"},
            f"{self.where}: agent_behaviour",
        )
        behaviour = self.host.agent_behaviour
        if "connect_after_s" in spec:
            value = spec["connect_after_s"]
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ProfileError(f"{self.where}: agent_behaviour.connect_after_s: seconds >= 0")
            behaviour.connect_after_s = float(value)
        if "sql_login" in spec:
            behaviour.sql_login = _choice(spec["sql_login"], SQL_LOGIN_RESULTS, self.where)
        if "log" in spec:
            if not isinstance(spec["log"], bool):
                raise ProfileError(f"{self.where}: agent_behaviour.log must be true or false")
            behaviour.log = spec["log"]

    def _logon_rights(self) -> None:
        accounts = self.data.get("service_logon_right") or []
        if not isinstance(accounts, list) or not all(isinstance(a, str) for a in accounts):
            raise ProfileError(f"{self.where}: service_logon_right must be a list of accounts")
        for account in accounts:
            self.host.service_logon_right.add(self.host._account_key(account))

    # network
    def _network(self) -> None:
        net = _section(
            self.data.get("network"),
            {
                "dns",
                "tcp",
                "default_tcp",
                "tls",
                "intercept_tls",
                "latency_ms",
                "winhttp_proxy",
                "user_proxy",
                "machine_proxy",
                "accounts",
            },
            f"{self.where}: network",
        )
        policy = self.host.network
        # Automatic root update has put the public roots in AuthRoot, as on a server online.
        self.host.cert_stores.authroot.extend(PKI.public_roots())
        # The legacy SQS name (the catalog's firewall_names) resolves as on the Internet.
        policy.dns["eu-west-3.queue.amazonaws.com"] = DnsRule("ok", ("198.51.100.21",))
        for endpoint in DEFAULT_ENDPOINTS:
            policy.dns[endpoint] = DnsRule("ok", DEFAULT_DNS[endpoint])
            policy.tls[endpoint] = TlsRule(DEFAULT_ISSUERS[endpoint], endpoint)
            for port in (80, 443):
                policy.tcp[f"{endpoint}:{port}"] = "ok"
        for mae in self.data.get("mae") or []:
            server = str(mae.get("server", "")).split("\\")[0].split(",")[0].lower()
            if server.endswith(".database.windows.net"):
                policy.dns.setdefault(server, DnsRule("ok", ("198.51.100.140",)))
                policy.tcp[f"{server}:1433"] = "ok"
        for dns_name, rule in (net.get("dns") or {}).items():
            policy.dns[str(dns_name).lower()] = self._dns_rule(rule)
        for target, verdict in (net.get("tcp") or {}).items():
            if ":" not in str(target):
                raise ProfileError(f"{self.where}: network.tcp key {target!r} must be name:port")
            policy.tcp[str(target).lower()] = _choice(verdict, TCP_RESULTS, self.where)
        policy.default_tcp = _choice(net.get("default_tcp", "timeout"), TCP_RESULTS, self.where)
        for target, spec in (net.get("tls") or {}).items():
            policy.tls[str(target).lower()] = self._tls_rule(spec)
        intercept = net.get("intercept_tls")
        if intercept is not None:
            spec = _section(intercept, {"issuer", "protocols", "except", "installed"}, self.where)
            policy.intercept_except = {str(n).lower() for n in spec.pop("except", []) or []}
            # `installed` (default true): the proxy's CA was added to the host's Root store
            # (Group Policy, by hand), as inspection needs for the host's own HTTPS to work.
            installed = spec.pop("installed", True)
            if not isinstance(installed, bool):
                raise ProfileError(f"{self.where}: network.intercept_tls.installed: true/false")
            policy.intercept = self._tls_rule(spec, proxy=True)
            if installed:
                self.host.cert_stores.root.append(PKI.proxy_root(policy.intercept.issuer))
        latency = net.get("latency_ms", 20)
        if isinstance(latency, Mapping):
            policy.latency_ms = {str(k).lower(): int(v) for k, v in latency.items()}
        else:
            policy.default_latency_ms = int(latency)
        proxy = _section(net.get("winhttp_proxy"), {"server", "bypass"}, self.where)
        policy.winhttp_proxy = proxy.get("server")
        policy.winhttp_bypass = proxy.get("bypass")
        self._proxies(net)
        for account, spec in (net.get("accounts") or {}).items():
            self._account_network(str(account), spec)

    def _proxies(self, net: dict[str, Any]) -> None:
        """Proxy settings where Windows keeps them: a user's Internet Options (WinINET) under
        HKU\\<SID>, the machine's under HKLM with the policy ProxySettingsPerUser=0."""
        reg = self.host.registry
        users = net.get("user_proxy") or {}
        if not isinstance(users, Mapping):
            raise ProfileError(f"{self.where}: network.user_proxy must map accounts to proxies")
        for account, spec in users.items():
            if str(account).lower() == "winrm_user":
                sid = USER_SID
            else:
                try:
                    sid = self.host.resolve_principal(str(account))
                except ModelError as exc:
                    raise ProfileError(
                        f"{self.where}: network.user_proxy account {account!r}: {exc}"
                    ) from None
            self._proxy_values(f"HKU\\{sid}\\{INTERNET_SETTINGS}", spec, "user_proxy")
        machine = net.get("machine_proxy")
        if machine is not None:
            self._proxy_values(f"HKLM\\{INTERNET_SETTINGS}", machine, "machine_proxy")
            reg.set(PROXY_POLICY_KEY, "ProxySettingsPerUser", 0)

    def _proxy_values(self, key: str, spec: Any, where: str) -> None:
        values = _section(
            spec, {"server", "bypass", "auto_config_url", "enabled"}, f"{self.where}: {where}"
        )
        reg = self.host.registry
        enabled = values.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ProfileError(f"{self.where}: {where}.enabled must be true or false")
        reg.set(key, "ProxyEnable", int(enabled))
        for name, value_name in (
            ("server", "ProxyServer"),
            ("bypass", "ProxyOverride"),
            ("auto_config_url", "AutoConfigURL"),
        ):
            if values.get(name):
                reg.set(key, value_name, str(values[name]))

    def _account_network(self, account: str, spec: Any) -> None:
        where = f"{self.where}: network.accounts[{account!r}]"
        data = _section(spec, {"dns", "tcp", "default_tcp", "intercept_tls"}, where)
        try:
            sid = self.host.resolve_principal(account)
        except ModelError as exc:
            raise ProfileError(f"{where}: {exc}") from None
        override = AccountNetwork()
        for dns_name, rule in (data.get("dns") or {}).items():
            override.dns[str(dns_name).lower()] = self._dns_rule(rule)
        for target, verdict in (data.get("tcp") or {}).items():
            if ":" not in str(target):
                raise ProfileError(f"{where}: tcp key {target!r} must be name:port")
            override.tcp[str(target).lower()] = _choice(verdict, TCP_RESULTS, where)
        if data.get("default_tcp") is not None:
            override.default_tcp = _choice(data["default_tcp"], TCP_RESULTS, where)
        if "intercept_tls" in data:
            intercept = data["intercept_tls"]
            override.intercept = (
                None
                if intercept is None
                else self._tls_rule(_section(intercept, {"issuer", "protocols"}, where), True)
            )
        self.host.network.accounts[sid.upper()] = override

    def _dns_rule(self, rule: Any) -> DnsRule:
        if isinstance(rule, str):
            return DnsRule(_choice(rule, DNS_STATUSES, f"{self.where}: network.dns"))
        if isinstance(rule, list):
            return DnsRule("ok", tuple(str(a) for a in rule))
        spec = _section(rule, {"status", "addresses", "cname"}, f"{self.where}: network.dns")
        return DnsRule(
            _choice(spec.get("status", "ok"), DNS_STATUSES, f"{self.where}: network.dns"),
            tuple(str(a) for a in spec.get("addresses") or []),
            spec.get("cname"),
        )

    def _tls_rule(self, spec: Any, proxy: bool = False) -> TlsRule:
        allowed = (
            {"issuer", "protocols"} if proxy else {"issuer", "subject", "protocols", "not_after"}
        )
        spec = _section(spec, allowed, self.where)
        protocols = tuple(spec.get("protocols") or ("TLSv1.2", "TLSv1.3"))
        for protocol in protocols:
            _choice(protocol, TLS_PROTOCOLS, f"{self.where}: tls protocols")
        issuer = str(spec.get("issuer") or "")
        if not proxy and issuer not in PUBLIC_INTERMEDIATES:
            # The model presents real chains: an issuer it has no chain for is refused.
            raise ProfileError(
                f"{self.where}: network.tls issuer {issuer!r} is not a simulated public "
                f"intermediate (known: {', '.join(sorted(PUBLIC_INTERMEDIATES))})"
            )
        if proxy and not issuer:
            raise ProfileError(f"{self.where}: network.intercept_tls needs an issuer")
        not_after = None
        if spec.get("not_after") is not None:
            try:
                not_after = dt.datetime.fromisoformat(
                    str(spec["not_after"]).replace("Z", "+00:00")
                ).astimezone(dt.UTC)
            except ValueError as exc:
                raise ProfileError(
                    f"{self.where}: network.tls not_after {spec['not_after']!r} is not a date"
                ) from exc
        return TlsRule(
            issuer=issuer,
            subject=spec.get("subject"),
            protocols=protocols,
            not_after=not_after,
            proxy=proxy,
        )

    # low-level overrides
    def _low_level(self) -> None:
        reg, fs = self.host.registry, self.host.fs
        for key, values in (self.data.get("registry") or {}).items():
            if values is None:
                reg.delete_key(str(key))
                continue
            if not isinstance(values, Mapping):
                raise ProfileError(f"{self.where}: registry[{key!r}] must map value names")
            reg.create_key(str(key))
            for value_name, value in values.items():
                if value is None:
                    reg.delete_value(str(key), str(value_name))
                elif isinstance(value, Mapping):
                    spec = _section(value, {"type", "data"}, f"{self.where}: registry value")
                    reg.set(str(key), str(value_name), spec["data"], str(spec["type"]))
                else:
                    reg.set(str(key), str(value_name), value)
        for folder in self.data.get("folders") or []:
            fs.mkdir(str(folder))
        for path, spec in (self.data.get("files") or {}).items():
            if spec is None:
                if fs.exists(str(path)):
                    fs.delete(str(path))
                continue
            spec = _section(
                spec,
                {
                    "text",
                    "size",
                    "product_version",
                    "file_version",
                    "owner",
                    "readers",
                    "readonly",
                    "open_by",
                },
                f"{self.where}: files[{path!r}]",
            )
            fs.mkdir(str(path).replace("/", "\\").rsplit("\\", 1)[0])
            text = spec.get("text")
            acl = None
            if spec.get("owner"):
                owner = self.host.resolve_principal(str(spec["owner"]))
                readers = [self.host.resolve_principal(str(r)) for r in spec.get("readers") or []]
                acl = Acl.private(owner, [owner], readers)
            fs.write(
                str(path),
                None if text is None else str(text).encode("utf-8"),
                size=None if text is not None else parse_size(spec.get("size", 0), self.where),
                product_version=spec.get("product_version"),
                file_version=spec.get("file_version"),
                acl=acl,
                reserve_space=False,
            )
            fs.set_attributes(
                str(path), readonly=bool(spec.get("readonly")), open_by=spec.get("open_by")
            )

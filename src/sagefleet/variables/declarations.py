"""The declaration of every inventory variable (sagefleet.variables reads it).

Edit here, then ``python -m sagefleet.ansible.roledocs all`` (``make docs``) regenerates the
roles' argument specs, defaults and READMEs and the module stubs' options.
"""

from __future__ import annotations

from typing import Any

from sagefleet.variables.jobs import (
    BASTION_PROBES,
    DIAGNOSE_AGENT_LOGS,
    DIAGNOSE_DEST,
    DIAGNOSE_EVENT_DAYS,
    DIAGNOSE_INSTALLER_LOGS,
    DIAGNOSE_MAX_FILES,
    DIAGNOSE_RESTART,
    DIAGNOSE_RESTART_TIMEOUT,
    DIAGNOSE_TAIL,
    DISCOVER_VARS,
    DROP_CONNECTIONS,
    FACTS_TIMEOUT,
    FAIL_ON_BLOCKED,
    HOST_INFO_SHOW,
    KEEP_BACKUPS,
    MAX_CLOCK_SKEW,
    MERGE_KEYS,
    MIN_FREE_MB,
    MODE,
    REPORT_DIR,
    REPORT_FORMATS,
    SETTINGS_BACKUP,
    SETTINGS_INSTALL_DIR,
    SETTINGS_PATH,
    SETTINGS_REPORT_DIR,
    SETTINGS_SERVICE_ACCOUNT,
    SETTINGS_SOURCE,
    SETTINGS_STATE,
    TIMEOUT_MS,
)
from sagefleet.variables.roles import (
    AGENT,
    PF,
    PREFLIGHT,
)
from sagefleet.variables.spec import Var, deprecated, role_var, seconds

# -- the host and its entities -----------------------------------------------------------


def _checked(name: str, type: str, *doc: str, **fields: Any) -> Var:
    """``sagefleet_<option>``, also the sagefleet_preflight module's ``<option>``."""
    return Var(name, type, doc, options={PF: name.removeprefix("sagefleet_")}, **fields)


def _deployed(name: str, type: str, *doc: str, **fields: Any) -> Var:
    """A variable of the deploy role's argument spec (its default, if any, is the code's)."""
    return Var(name, type, doc, roles=(AGENT,), **fields)


ENTITIES = Var(
    "sagefleet_entities",
    "list",
    (
        "The host's entities (Sage files), one per connection of the agent, as documented in "
        "docs/settings.md (schemas/entities.schema.json); they hold the SQL and Sage "
        "passwords, so a refused value is never shown.",
    ),
    elements="dict",
    secret=True,
    roles=(AGENT, PREFLIGHT),
    doors=("preflight", "deploy", "settings", "diagnose", "doctor"),
)
LANG = _checked(
    "sagefleet_lang", "str",
    "Language of findings and reports.",
    default="en",
    choices=("en", "fr"),
    doors=("preflight", "doctor", "diagnose", "verify"),
)
ENDPOINTS = _checked(
    "sagefleet_endpoints", "list",
    "Outbound endpoints to probe from each host, as name, port, tls, required and "
    "firewall_names (what an FQDN-based firewall must also allow).",
    elements="dict",
    doors=("preflight", "diagnose", "verify"),
)
WAIVERS = _checked(
    "sagefleet_waivers", "list",
    "Checks waived on a host or group, each with id, reason, optional expires "
    "(YYYY-MM-DD) and optional entity.",
    elements="dict",
    doors=("preflight", "doctor"),
)
SAGE_CATALOG = _checked(
    "sagefleet_sage_catalog", "dict",
    "Replacement for the shipped Sage version catalog (same shape as catalog/sage.yml).",
    doors=("preflight",),
)
EDITION = _checked(
    "sagefleet_edition", "str",
    "Edition of a host without entities.",
    choices=("spc", "onpremise"),
    doors=("preflight", "verify"),
)
DNS_SERVERS = _checked(
    "sagefleet_dns_servers", "list",
    "DNS servers the bastion asks.",
    elements="str",
    what="a list of IP addresses",
    doors=("preflight",),
)
DNS_PORT = _checked(
    "sagefleet_dns_port", "int",
    "Port of the DNS servers the bastion asks.",
    default=53,
    low=1,
    doors=("preflight",),
)
SSH_JUMP = Var(
    "sagefleet_ssh_jump",
    "dict",
    (
        "The SSH jump host in front of the host's WinRM listener: host, user, port (22), "
        "key_file or password, known_hosts, host_key_checking (true); docs/operations.md, "
        "\"Jump hosts (SSH)\".",
    ),
    secret=True,  # it may hold the jump host's password
    doors=("doctor", "selftest", "jump"),
)
ALLOW_INSECURE = _checked(
    "sagefleet_allow_insecure_transport", "bool",
    "Accept HTTP/Basic or unvalidated HTTPS (SF902 becomes a warning).",
    default=False,
    doors=("preflight",),
)

# -- the agent ---------------------------------------------------------------------------

TARGET_VERSION = Var(
    "sagefleet_agent_target_version",
    "str",
    ('Agent version the fleet moves to (for example "3.2.0").',),
    roles=(AGENT, PREFLIGHT),
    options={PF: "target_version"},
    doors=("preflight", "deploy", "package", "verify"),
)
PACKAGE = _deployed(
    "sagefleet_agent_package", "str",
    "Path of the agent package (Setup.zip) on the bastion; playbooks/deploy.yml "
    "inspects it once (sagefleet_package) before any host is touched.",
    doors=("deploy",),
)
PACKAGE_SHA256 = _deployed(
    "sagefleet_agent_package_sha256", "str",
    "Expected SHA-256 of the package; a different file is refused.",
    doors=("deploy",),
)
SERVICE_ACCOUNT = Var(
    "sagefleet_agent_service_account",
    "str",
    (
        "Windows account the agent service runs as (DOMAIN\\user); a domain account is "
        "needed when the Sage files are on a network share. Unset, a new install runs as "
        "LocalSystem and an upgrade keeps the account the service runs as (which "
        "verification then accepts, SF504).",
    ),
    what="DOMAIN\\user or user@domain",
    roles=(AGENT, PREFLIGHT),
    options={PF: "service_account"},
    doors=("preflight", "deploy", "settings", "verify"),
)
SERVICE_PASSWORD = _deployed(
    "sagefleet_agent_service_password", "str",
    "Password of the service account (keep it in ansible-vault).",
    secret=True,
    doors=("deploy", "diagnose"),
)
PROFILE = role_var(
    AGENT, "sagefleet_agent_profile", "str",
    "The agent profile (YAML) describing the vendor's agent, from `sagefleet agent "
    "learn` on a reference install; a relative path is read from the inventory's "
    "folder. Empty for the shipped profile (its guesses are listed under assumed).",
    "The variables below override one field of it each (docs/agent-profile.md).",
    default="",
    note="The agent profile (YAML, docs/agent-profile.md); empty: the shipped one.",
    doors=("preflight", "deploy", "settings", "diagnose", "restart", "agent learn"),
)
SERVICE_NAME = _deployed(
    "sagefleet_agent_service_name", "str",
    "The agent's Windows service name; default from the agent profile (service.name, "
    "else its ImagePath/DisplayName pattern). Literal, no wildcard.",
    options={PF: "service_name"},
    option_aliases=("agent_service",),
    doors=("preflight", "deploy", "diagnose", "restart"),
)
SERVICE_DISPLAY_NAME = _deployed(
    "sagefleet_agent_service_display_name", "str",
    "The service's display name; default from the agent profile.",
    doors=("deploy", "diagnose"),
)
INSTALL_DIR = _deployed(
    "sagefleet_agent_install_dir", "str",
    "The agent's install folder; default from the agent profile (install.dir).",
    doors=("deploy", "settings", "diagnose"),
)
INSTALLER_ARGUMENTS = _deployed(
    "sagefleet_agent_installer_arguments", "list",
    "The installer's silent switches, whatever its technology ({log} is the log's "
    "path); default from the agent profile (installer.silent_args). For an .msi, only "
    "NAME=value properties.",
    elements="str",
    doors=("deploy",),
)
SUCCESS_CODES = _deployed(
    "sagefleet_agent_success_codes", "list",
    "Installer exit codes meaning success (0 included); default from the agent profile "
    "(installer.success_codes).",
    elements="int",
    doors=("deploy",),
)
STOP_TIMEOUT, START_TIMEOUT = (
    seconds(name, doc, default=60, low=1, high=3600, doors=("deploy", "restart"))
    for name, doc in (
        (
            "sagefleet_agent_stop_timeout_s",
            "Seconds the agent service has to stop; past them its process is killed.",
        ),
        ("sagefleet_agent_start_timeout_s", "Seconds the agent service has to start."),
    )
)
INSTALLER_TIMEOUT = seconds(
    "sagefleet_agent_installer_timeout_s",
    "How long the installer may run; then its process tree is killed and the install fails.",
    default=1800,
    low=60,
    high=14400,
    doors=("deploy",),
)
STAGING_DIR = Var(
    "sagefleet_agent_staging_dir",
    "str",
    ("Staging root on the host (a local folder, at most 120 characters).",),
    default="C:\\ProgramData\\sagefleet\\staging",
    doors=("deploy", "diagnose", "selftest"),
)
BACKUP_DIR = Var(
    "sagefleet_agent_backup_dir",
    "str",
    (
        "Where the previous install is backed up, and a failed fresh install recorded "
        "(failed-install.json): a private folder, only SYSTEM and Administrators may write it.",
    ),
    default="C:\\ProgramData\\sagefleet\\backup",
    doors=("preflight", "deploy", "doctor"),
)
ACCEPT_FAILED_INSTALL = _deployed(
    "sagefleet_agent_accept_failed_install", "bool",
    "Take the agent an earlier failed fresh install left on the host (its record, "
    "failed-install.json in the backup root) as installed: the deploy goes on from it and "
    "removes the record. Unset, such a host fails until the agent is uninstalled. Set it "
    "for one run of one host (--limit), after checking that agent.",
    default=False,
    doors=("preflight", "deploy", "doctor"),
    fix="set sagefleet_agent_accept_failed_install: true only for a host whose agent you "
    "checked",
)
KEEP_AGENT_BACKUPS = Var(
    "sagefleet_agent_keep_backups",
    "int",
    (
        "Backups of the previous install kept in sagefleet_agent_backup_dir after an "
        "install or upgrade that ended well, the one it took included (0 to 100). Older "
        "ones are removed, never the one the run took (0 keeps that one only); a run "
        "rolled back or failed removes nothing. Each holds a copy of settings.json, "
        "passwords included (docs/deploy.md, \"Backups of the agent\").",
    ),
    default=5,
    low=0,
    high=100,
    roles=(AGENT,),
    defaults_in=(AGENT,),
    note="Backups of the previous install kept after an upgrade that ended well (0 to 100).",
    doors=("deploy",),
)
STAGING_KEEP = Var(
    "sagefleet_agent_staging_keep",
    "int",
    ("Staged versions kept on the host.",),
    default=2,
    low=0,
    doors=("deploy", "verify"),
)
PACKAGE_URL = Var(
    "sagefleet_agent_package_url",
    "str",
    ("Pull mode: the host downloads the package from this http:// or https:// URL.",),
    doors=("deploy",),
)
TRANSFER_ENCODING = Var(
    "sagefleet_agent_transfer_encoding",
    "str",
    (
        "How the package travels on stdin: binary (raw bytes) or base64 (text lines, the "
        "fallback), docs/transfer.md.",
    ),
    default="binary",
    choices=("binary", "base64"),
    doors=("deploy",),
)
TRANSFER_STREAMS = Var(
    "sagefleet_agent_transfer_streams",
    "int",
    ("Connections that may carry one package to one host at once.",),
    default=4,
    low=1,
    high=16,
    what="a number of connections",
    doors=("deploy",),
)
CONNECT_WINDOW = seconds(
    "sagefleet_agent_connect_window_s",
    "Seconds an agent has, after its process starts, to hold a connection to the "
    "vendor's services (SF513). The health gate polls for that long and fails a host "
    "whose agent runs but never connects (the wave stops as after a failed start); "
    "verify says unknown for a younger agent. 0 to 3600.",
    default=120,
    low=0,
    high=3600,
    roles=(AGENT,),
    defaults_in=(AGENT,),
    note="Seconds an agent has, after its start, to connect to the vendor's services (SF513).",
    doors=("deploy", "diagnose", "verify"),
)

# -- the deploy's waves ------------------------------------------------------------------

WAVES = _deployed(
    "sagefleet_deploy_waves", "list",
    "Hosts per wave (numbers or percentages), the serial of playbooks/deploy.yml; as "
    "Ansible's serial, the last size repeats until every host is done ([1] deploys one "
    "host at a time; a canary alone is --limit with one host).",
    default=[1, "10%", "25%", "100%"],
)
DEPLOY_FAIL_ON_BLOCKED = _deployed(
    "sagefleet_deploy_fail_on_blocked", "bool",
    "Fail each host preflight blocked (exit code 2, the host failed in PLAY RECAP, and a "
    "failure of its outcome test case in report.junit.xml): a deploy that left a server "
    "without the agent did not do what was asked. False: a blocked host is reported and "
    "ends ok (skipped in JUnit), the run exits 0 if nothing else failed (for a fleet that "
    "holds hosts known to be blocked, such as the demo's). May be set per host: each host "
    "ends by its own value, and every report says so.",
    default=True,
)
DEPLOY_MAX_FAIL = _deployed(
    "sagefleet_deploy_max_fail_percentage", "float",
    "A wave whose failed hosts (rolled back, failed or verify failed) exceed this share "
    "(percent) stops the rollout; unreachable and blocked hosts do not count.",
    default=20,
    low=0,
    high=100,
)
PACKAGE_INFO = role_var(
    AGENT, "sagefleet_agent_package_info", "dict",
    "The package as inspected on the bastion by the sagefleet_package task.",
    role_default="{{ sagefleet_agent_package_result.package }}",
)
PAUSE = role_var(
    AGENT, "sagefleet_agent_pause_s", "int",
    "Seconds to wait after each wave before the next one starts.",
    default=0,
    low=0,
)
VERIFY_WAVES = role_var(
    AGENT, "sagefleet_agent_verify_waves", "bool",
    "Also run the testinfra suites (tests/infra) on each wave's hosts.",
    "The suites open the vault with the playbook's own vault secrets.",
    default=False,
)
VERIFY_SUITES = role_var(
    AGENT, "sagefleet_agent_verify_suites", "str",
    "The testinfra suites run between waves (an integrator's own folder works too).",
    default="{{ playbook_dir }}/../tests/infra",
)
WAVE_REPORT = role_var(
    AGENT, "sagefleet_agent_wave_report", "str",
    "Where each wave's verification report goes (in deploy.yml, the run's report "
    "folder); a host whose verification failed is reported as verify-failed.",
    default="{{ sagefleet_deploy_run.path | default(playbook_dir ~ '/../reports') }}"
    "/verify-{{ ansible_play_batch | first }}",
)
LOCK_TTL = seconds(
    "sagefleet_deploy_lock_ttl_s",
    "Expiry of a host's deploy lock (a killed run's lock is then recovered).",
    default=3600,
    low=60,
    high=86400,
    doors=("deploy",),
)
LOCK_WAIT = seconds(
    "sagefleet_deploy_lock_wait_s",
    "How long a deploy waits for another run's lock on the host.",
    default=0,
    low=0,
    high=3600,
    doors=("deploy",),
)

# -- the connection ----------------------------------------------------------------------

WINRM_RETRIES = Var(
    "sagefleet_winrm_retries",
    "int",
    ("Retries after the first attempt of a snippet.",),
    default=2,
    low=0,
    high=10,
    what="a whole number of retries",
    doors=("preflight", "deploy", "doctor", "settings", "restart", "diagnose"),
)
WINRM_BACKOFF = seconds(
    "sagefleet_winrm_retry_backoff_s",
    "First wait between retries, in seconds, doubled each time (capped at 30).",
    type="float",
    default=1.0,
    low=0,
    high=60,
    doors=("preflight", "deploy", "doctor", "settings", "restart", "diagnose"),
)

# -- the playbooks' own variables (plays outside the roles read them) -------------------

REPORT_ROOT = Var(
    "sagefleet_report_dir", "path",
    ("Where every job's report folders go on the bastion: <it>/<inventory name>/<job>/<UTC "
     "time>/, with a link latest (default the project's reports/).",),
    default="",
    doors=("preflight", "deploy", "verify", "diagnose", "discover", "site", "settings"),
)  # fmt: skip
INVENTORY_NAME = Var(
    "sagefleet_inventory_name", "str",
    ("The inventory's name in the report folders (default: its file's folder, or its "
     "file's name).",),
    default="",
    doors=("preflight", "deploy", "verify", "diagnose", "discover", "site", "settings"),
)  # fmt: skip
DEPLOY_REPORT_DIR = Var(
    "sagefleet_deploy_report_dir", "path",
    ("A folder for deploy.yml's report, used as is (default a folder per run under "
     "sagefleet_report_dir). Used again, it holds only the last run's results: the run "
     "that writes its report removes the report files and verify-<host> folders an earlier "
     "run left there, never another file.",),
    default="",
    doors=("deploy",),
)  # fmt: skip
VERIFY_REPORT_DIR = Var(
    "sagefleet_verify_report_dir", "path",
    ("A folder for verify.yml's report and pytest's JUnit XML, used as is (default a folder "
     "per run under sagefleet_report_dir). Used again, it holds only the last run's "
     "results: the run that writes its report removes the report files an earlier run "
     "left there, never another file.",),
    default="",
    doors=("verify",),
)  # fmt: skip
VERIFY_WORKERS = Var(
    "sagefleet_verify_workers", "int",
    ("Hosts verify.yml verifies at once (pytest-xdist workers, never more than the hosts "
     "to verify; 1: the suites run in pytest's own process, with no worker to start).",),
    default=4,
    low=1,
    doors=("verify",),
)  # fmt: skip
VERIFY_PLAY_SUITES = Var(
    "sagefleet_verify_suites", "path",
    ("The testinfra suites verify.yml runs (default the project's tests/infra; an "
     "integrator's own folder works too).",),
    default="",
    doors=("verify",),
)  # fmt: skip

VARIABLES: tuple[Var, ...] = (
    ENTITIES,
    LANG,
    ENDPOINTS,
    WAIVERS,
    SAGE_CATALOG,
    EDITION,
    DNS_SERVERS,
    DNS_PORT,
    SSH_JUMP,
    ALLOW_INSECURE,
    TARGET_VERSION,
    deprecated("sagefleet_agent_version", TARGET_VERSION, roles=(AGENT, PREFLIGHT)),
    PACKAGE,
    PACKAGE_SHA256,
    SERVICE_ACCOUNT,
    SERVICE_PASSWORD,
    WAVES,
    DEPLOY_FAIL_ON_BLOCKED,
    DEPLOY_MAX_FAIL,
    deprecated("sagefleet_agent_max_fail_percentage", DEPLOY_MAX_FAIL, roles=(AGENT,)),
    PACKAGE_INFO,
    PAUSE,
    VERIFY_WAVES,
    WAVE_REPORT,
    CONNECT_WINDOW,
    VERIFY_SUITES,
    PROFILE,
    SERVICE_NAME,
    SERVICE_DISPLAY_NAME,
    INSTALL_DIR,
    INSTALLER_ARGUMENTS,
    SUCCESS_CODES,
    STOP_TIMEOUT,
    START_TIMEOUT,
    INSTALLER_TIMEOUT,
    STAGING_DIR,
    BACKUP_DIR,
    ACCEPT_FAILED_INSTALL,
    KEEP_AGENT_BACKUPS,
    STAGING_KEEP,
    PACKAGE_URL,
    TRANSFER_ENCODING,
    TRANSFER_STREAMS,
    LOCK_TTL,
    LOCK_WAIT,
    SETTINGS_STATE,
    SETTINGS_SOURCE,
    MERGE_KEYS,
    DROP_CONNECTIONS,
    SETTINGS_PATH,
    SETTINGS_INSTALL_DIR,
    SETTINGS_SERVICE_ACCOUNT,
    KEEP_BACKUPS,
    SETTINGS_BACKUP,
    SETTINGS_REPORT_DIR,
    deprecated("sagefleet_preflight_lang", LANG, roles=(PREFLIGHT,)),
    deprecated("sagefleet_preflight_endpoints", ENDPOINTS, roles=(PREFLIGHT,)),
    deprecated("sagefleet_preflight_waivers", WAIVERS, roles=(PREFLIGHT,)),
    MIN_FREE_MB,
    MAX_CLOCK_SKEW,
    TIMEOUT_MS,
    FACTS_TIMEOUT,
    MODE,
    BASTION_PROBES,
    REPORT_DIR,
    REPORT_FORMATS,
    FAIL_ON_BLOCKED,
    DIAGNOSE_DEST,
    DIAGNOSE_RESTART,
    DIAGNOSE_RESTART_TIMEOUT,
    DIAGNOSE_TAIL,
    DIAGNOSE_MAX_FILES,
    DIAGNOSE_EVENT_DAYS,
    DIAGNOSE_AGENT_LOGS,
    DIAGNOSE_INSTALLER_LOGS,
    *DISCOVER_VARS,
    HOST_INFO_SHOW,
    WINRM_RETRIES,
    WINRM_BACKOFF,
    REPORT_ROOT,
    INVENTORY_NAME,
    DEPLOY_REPORT_DIR,
    VERIFY_REPORT_DIR,
    VERIFY_WORKERS,
    VERIFY_PLAY_SUITES,
)

#: Variables no longer read: set, they stop the run with what to do instead.
_NO_ISSUER_LIST = (
    "no longer used: SF303 validates each endpoint's certificate chain against the host's "
    "own Windows root store, without a list of issuer names"
)
RETIRED: dict[str, str] = dict.fromkeys(
    ("sagefleet_expected_issuers", "sagefleet_preflight_expected_issuers"), _NO_ISSUER_LIST
)

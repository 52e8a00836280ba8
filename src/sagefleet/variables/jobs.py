"""The variables of the settings, preflight, diagnose, discover and host-info jobs."""

from __future__ import annotations

from sagefleet.variables.roles import (
    DEPLOY,
    DG,
    DIAGNOSE,
    DISCOVER,
    HOST_INFO,
    PF,
    PREFLIGHT,
    SETTINGS,
)
from sagefleet.variables.spec import Var

# -- settings.json -----------------------------------------------------------------------

SETTINGS_STATE = Var(
    "sagefleet_settings_state",
    "str",
    ("present writes the host's settings; rollback restores a backup.",),
    default="present",
    choices=("present", "rollback"),
    roles=(SETTINGS,),
    defaults_in=(SETTINGS,),
)
SETTINGS_SOURCE = Var(
    "sagefleet_settings_source",
    "str",
    (
        "vendor merges the entities' vendor files (vendor_settings or vendor_package); an "
        "entity without one is an error.",
        "template renders sagefleet's assumed layout from the entities' fields (an "
        "ASSUMPTION of the vendor's format); a current file not in that layout is never "
        "overwritten.",
    ),
    default="vendor",
    choices=("vendor", "template"),
    roles=(DEPLOY, SETTINGS),
    defaults_in=(SETTINGS,),
    note="vendor: merge the entities' vendor files; template: render the assumed layout.",
    doors=("deploy", "settings"),
    empty_is_unset=True,
    fix="vendor: merge the settings.json files the vendor's form produced (default); "
    "template: render sagefleet's assumed layout from the entities' fields",
)
MERGE_KEYS = Var(
    "sagefleet_settings_merge_keys",
    "list",
    (
        "Lists of the vendor's settings.json keyed by a member, as mappings with a path "
        "(Connections, a.b.Items, or . for a top-level list) and a member (CompanyName); "
        "empty for the agent profile's settings.merge_keys. Undeclared lists are keyed by "
        "detection (docs/settings.md).",
    ),
    default=[],
    elements="dict",
    roles=(DEPLOY, SETTINGS),
    defaults_in=(SETTINGS,),
    note="Lists keyed by a member, [{path: Connections, member: CompanyName}].",
    doors=("deploy", "settings"),
)
DROP_CONNECTIONS = Var(
    "sagefleet_settings_drop_connections",
    "bool",
    (
        "Allow a deploy or a settings write to drop connections the host's current "
        "settings.json holds and the merged vendor files lack (refused by default, naming "
        "them).",
    ),
    default=False,
    roles=(DEPLOY, SETTINGS),
    defaults_in=(SETTINGS,),
    doors=("deploy", "settings"),
    fix="write sagefleet_settings_drop_connections: true only to remove connections the "
    "vendor files lack",
)
SETTINGS_PATH = Var(
    "sagefleet_settings_path",
    "str",
    ("Full path of settings.json on the host (empty for where the agent profile puts it).",),
    default="",
    roles=(SETTINGS,),
    defaults_in=(SETTINGS,),
    empty_is_unset=True,
    doors=("deploy", "settings", "diagnose"),
)
SETTINGS_INSTALL_DIR = Var(
    "sagefleet_settings_install_dir",
    "str",
    (
        "Agent folder holding settings.json; defaults to sagefleet_agent_install_dir, else "
        "the agent profile's install.dir (docs/agent-profile.md).",
    ),
    default="",
    role_default="{{ sagefleet_agent_install_dir | default('') }}",
    roles=(SETTINGS,),
    defaults_in=(SETTINGS,),
)
SETTINGS_SERVICE_ACCOUNT = Var(
    "sagefleet_settings_service_account",
    "str",
    (
        "Account the agent service runs as, granted read access; defaults to "
        "sagefleet_agent_service_account.",
    ),
    default="LocalSystem",
    role_default="{{ sagefleet_agent_service_account | default('LocalSystem') }}",
    roles=(SETTINGS,),
    defaults_in=(SETTINGS,),
)
KEEP_BACKUPS = Var(
    "sagefleet_settings_keep_backups",
    "int",
    ("Backups of previous files kept next to settings.json (0 to 100).",),
    default=5,
    roles=(SETTINGS,),
    defaults_in=(SETTINGS,),
    doors=("deploy", "settings"),
)
SETTINGS_BACKUP = Var(
    "sagefleet_settings_backup",
    "str",
    ("Backup to restore with state rollback (empty for the newest).",),
    default="",
    roles=(SETTINGS,),
    defaults_in=(SETTINGS,),
)

# -- preflight ---------------------------------------------------------------------------

MIN_FREE_MB = Var(
    "sagefleet_preflight_min_free_mb",
    "int",
    ("Free space needed on C, in MiB.",),
    default=500,
    low=1,
    roles=(PREFLIGHT,),
    defaults_in=(PREFLIGHT,),
    options={PF: "min_free_mb"},
    doors=("preflight", "doctor", "deploy"),
)
MAX_CLOCK_SKEW = Var(
    "sagefleet_preflight_max_clock_skew_s",
    "int",
    (
        "Clock difference with the bastion from which SF104 warns, in seconds.",
        "From 900 s (AWS's limit) it is an error whatever this value.",
    ),
    default=300,
    low=1,
    roles=(PREFLIGHT,),
    defaults_in=(PREFLIGHT,),
    options={PF: "max_clock_skew_s"},
    doors=("preflight", "doctor", "deploy"),
)
TIMEOUT_MS = Var(
    "sagefleet_preflight_timeout_ms",
    "int",
    ("Timeout of each network probe run on the host, in milliseconds.",),
    default=3000,
    low=100,
    roles=(PREFLIGHT,),
    defaults_in=(PREFLIGHT,),
    options={PF: "timeout_ms"},
    doors=("preflight", "doctor", "deploy"),
)
MODE = Var(
    "sagefleet_preflight_mode",
    "str",
    (
        "How each host's facts are gathered. C(fleet) - one task on the bastion reaches "
        "every host at once (forks at a time) and hands each host its result. C(per_host) "
        "- each host's own task connects to it.",
        "A host whose connection the fleet task cannot reproduce (another connection "
        "plugin, become, Kerberos or CredSSP, several transports) runs per host whatever "
        "this value.",
    ),
    default="fleet",
    choices=("fleet", "per_host"),
    roles=(PREFLIGHT,),
    defaults_in=(PREFLIGHT,),
    note="fleet: every host from one task on the bastion; per_host: each host's own task.",
    doors=("preflight",),
)
BASTION_PROBES = Var(
    "sagefleet_preflight_bastion_probes",
    "bool",
    ("Also resolve every probed name from the bastion (dnspython).",),
    default=False,
    roles=(PREFLIGHT,),
    defaults_in=(PREFLIGHT,),
    options={PF: "bastion_probes"},
    doors=("preflight", "doctor"),
)
REPORT_DIR = Var(
    "sagefleet_preflight_report_dir",
    "path",
    (
        "Where the fleet report is written on the bastion, as is.",
        "Empty, one folder per run, reports/<inventory name>/preflight/<UTC time>/, and a "
        "link latest to the newest.",
    ),
    default="",
    roles=(PREFLIGHT,),
    defaults_in=(PREFLIGHT,),
)
REPORT_FORMATS = Var(
    "sagefleet_preflight_report_formats",
    "list",
    ("Report formats to write.",),
    default=["console", "json", "junit", "html"],
    elements="str",
    roles=(PREFLIGHT,),
    defaults_in=(PREFLIGHT,),
)
FAIL_ON_BLOCKED = Var(
    "sagefleet_preflight_fail_on_blocked",
    "bool",
    (
        "Fail each blocked host at the end (exit code 2); unreachable hosts, and hosts that "
        "could not be diagnosed, always fail the run (exit code 4).",
    ),
    default=False,
    roles=(PREFLIGHT,),
    defaults_in=(PREFLIGHT,),
)

# -- diagnose ----------------------------------------------------------------------------

DIAGNOSE_DEST = Var(
    "sagefleet_diagnose_dest",
    "path",
    ("Folder of the support bundles on the bastion (one zip per host).",),
    default="{{ playbook_dir }}/../reports/diagnose",
    roles=(DIAGNOSE,),
    defaults_in=(DIAGNOSE,),
    options={DG: "dest"},
)
DIAGNOSE_RESTART = Var(
    "sagefleet_diagnose_restart",
    "bool",
    ("Restart the agent service after collecting (never in check mode).",),
    default=False,
    roles=(DIAGNOSE,),
    defaults_in=(DIAGNOSE,),
    options={DG: "restart"},
)
DIAGNOSE_RESTART_TIMEOUT = Var(
    "sagefleet_diagnose_restart_timeout_s",
    "int",
    ("Seconds to wait for the service to run again after a restart.",),
    default=60,
    low=1,
    high=3600,
    roles=(DIAGNOSE,),
    defaults_in=(DIAGNOSE,),
    options={DG: "restart_timeout_s"},
)
DIAGNOSE_TAIL = Var(
    "sagefleet_diagnose_tail_kib",
    "int",
    ("Last KiB kept of each log file.",),
    default=256,
    low=1,
    high=8192,
    roles=(DIAGNOSE,),
    defaults_in=(DIAGNOSE,),
    options={DG: "tail_kib"},
)
DIAGNOSE_MAX_FILES = Var(
    "sagefleet_diagnose_max_log_files",
    "int",
    ("Newest files kept per log folder.",),
    default=3,
    low=1,
    high=50,
    roles=(DIAGNOSE,),
    defaults_in=(DIAGNOSE,),
    options={DG: "max_log_files"},
)
DIAGNOSE_EVENT_DAYS = Var(
    "sagefleet_diagnose_event_days",
    "int",
    ("Days of Windows event log entries collected.",),
    default=7,
    low=1,
    high=365,
    roles=(DIAGNOSE,),
    defaults_in=(DIAGNOSE,),
    options={DG: "event_days"},
)
DIAGNOSE_AGENT_LOGS = Var(
    "sagefleet_diagnose_agent_log_dirs",
    "list",
    (
        "Folders of the agent's logs (*.log); empty for <install dir>\\logs and "
        "<install dir> (an assumption, see docs/package.md).",
    ),
    default=[],
    elements="str",
    what="a list of Windows folders",
    roles=(DIAGNOSE,),
    defaults_in=(DIAGNOSE,),
    options={DG: "agent_log_dirs"},
)
DIAGNOSE_INSTALLER_LOGS = Var(
    "sagefleet_diagnose_installer_log_dirs",
    "list",
    (
        "Folders of installer logs (*.log); empty for sagefleet's staging folder and "
        "C:\\Windows\\Temp (Setup Log *.txt).",
    ),
    default=[],
    elements="str",
    what="a list of Windows folders",
    roles=(DIAGNOSE,),
    defaults_in=(DIAGNOSE,),
    options={DG: "installer_log_dirs"},
)

# -- discover and host info --------------------------------------------------------------

DISCOVER_VARS = (
    Var(
        "sagefleet_discover_dest",
        "path",
        ("Folder of the draft host_vars files on the bastion.",),
        default="{{ inventory_dir }}/host_vars",
        roles=(DISCOVER,),
        defaults_in=(DISCOVER,),
    ),
    Var(
        "sagefleet_discover_roots",
        "list",
        ("More folders to search for .MAE files on the server.",),
        default=[],
        elements="str",
        roles=(DISCOVER,),
        defaults_in=(DISCOVER,),
    ),
    Var(
        "sagefleet_discover_force",
        "bool",
        ("Overwrite existing draft files.",),
        default=False,
        roles=(DISCOVER,),
        defaults_in=(DISCOVER,),
    ),
    Var(
        "sagefleet_discover_max_depth",
        "int",
        ("Sub-folder depth searched under each folder.",),
        default=4,
        roles=(DISCOVER,),
        defaults_in=(DISCOVER,),
    ),
)
HOST_INFO_SHOW = Var(
    "sagefleet_host_info_show",
    "bool",
    ("Print a one-line summary per host.",),
    default=True,
    roles=(HOST_INFO,),
    defaults_in=(HOST_INFO,),
)

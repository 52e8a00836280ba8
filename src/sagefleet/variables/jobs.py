"""The variables of the settings, preflight, diagnose, discover and host-info jobs."""

from __future__ import annotations

from sagefleet.variables.roles import (
    AGENT,
    DIAGNOSE,
    DISCOVER,
    HOST_INFO,
    PREFLIGHT,
    SETTINGS,
)
from sagefleet.variables.spec import Var, role_var

# -- settings.json -----------------------------------------------------------------------

SETTINGS_STATE = role_var(
    SETTINGS, "sagefleet_settings_state", "str",
    "present writes the host's settings; rollback restores a backup.",
    default="present",
    choices=("present", "rollback"),
)
SETTINGS_SOURCE = role_var(
    SETTINGS, "sagefleet_settings_source", "str",
    "vendor merges the entities' vendor files (vendor_settings or vendor_package); an "
    "entity without one is an error.",
    "template renders sagefleet's assumed layout from the entities' fields (an "
    "ASSUMPTION of the vendor's format); a current file not in that layout is never "
    "overwritten.",
    also=(AGENT,),
    default="vendor",
    choices=("vendor", "template"),
    note="vendor: merge the entities' vendor files; template: render the assumed layout.",
    doors=("deploy", "settings"),
    empty_is_unset=True,
    fix="vendor: merge the settings.json files the vendor's form produced (default); "
    "template: render sagefleet's assumed layout from the entities' fields",
)
MERGE_KEYS = role_var(
    SETTINGS, "sagefleet_settings_merge_keys", "list",
    "Lists of the vendor's settings.json keyed by a member, as mappings with a path "
    "(Connections, a.b.Items, or . for a top-level list) and a member (CompanyName); "
    "empty for the agent profile's settings.merge_keys. Undeclared lists are keyed by "
    "detection (docs/settings.md).",
    also=(AGENT,),
    default=[],
    elements="dict",
    note="Lists keyed by a member, [{path: Connections, member: CompanyName}].",
    doors=("deploy", "settings"),
)
DROP_CONNECTIONS = role_var(
    SETTINGS, "sagefleet_settings_drop_connections", "bool",
    "Allow a deploy or a settings write to drop connections the host's current "
    "settings.json holds and the merged vendor files lack (refused by default, naming "
    "them).",
    also=(AGENT,),
    default=False,
    doors=("deploy", "settings"),
    fix="write sagefleet_settings_drop_connections: true only to remove connections the "
    "vendor files lack",
)
SETTINGS_PATH = role_var(
    SETTINGS, "sagefleet_settings_path", "str",
    "Full path of settings.json on the host (empty for where the agent profile puts it).",
    default="",
    empty_is_unset=True,
    doors=("deploy", "settings", "diagnose"),
)
SETTINGS_INSTALL_DIR = role_var(
    SETTINGS, "sagefleet_settings_install_dir", "str",
    "Agent folder holding settings.json; defaults to sagefleet_agent_install_dir, else "
    "the agent profile's install.dir (docs/agent-profile.md).",
    default="",
    role_default="{{ sagefleet_agent_install_dir | default('') }}",
)
SETTINGS_SERVICE_ACCOUNT = role_var(
    SETTINGS, "sagefleet_settings_service_account", "str",
    "Account the agent service runs as, granted read access; defaults to "
    "sagefleet_agent_service_account.",
    default="LocalSystem",
    role_default="{{ sagefleet_agent_service_account | default('LocalSystem') }}",
)
KEEP_BACKUPS = role_var(
    SETTINGS, "sagefleet_settings_keep_backups", "int",
    "Backups of previous files kept next to settings.json (0 to 100).",
    default=5,
    low=0,
    high=100,
    doors=("deploy", "settings"),
)
SETTINGS_BACKUP = role_var(
    SETTINGS, "sagefleet_settings_backup", "str",
    "Backup to restore with state rollback (empty for the newest).",
    default="",
)
SETTINGS_REPORT_DIR = role_var(
    SETTINGS, "sagefleet_settings_report_dir", "path",
    "Where the fleet report is written on the bastion, as is; used again, it holds only "
    "the last run's report (the report files an earlier run left there are removed, never "
    "another file).",
    "Empty, one folder per run, reports/<inventory name>/settings/<UTC time>/, and a "
    "link latest to the newest.",
    default="",
)

# -- preflight ---------------------------------------------------------------------------


def _threshold(name: str, *doc: str, default: int, low: int) -> Var:
    """A whole number the checks compare with (so every front door that runs them reads
    it), also an option of the sagefleet_preflight module."""
    return role_var(
        PREFLIGHT, name, "int", *doc,
        option=True,
        default=default,
        low=low,
        doors=("preflight", "doctor", "deploy"),
    )


MIN_FREE_MB = _threshold(
    "sagefleet_preflight_min_free_mb", "Free space needed on C, in MiB.", default=500, low=1
)
MAX_CLOCK_SKEW = _threshold(
    "sagefleet_preflight_max_clock_skew_s",
    "Clock difference with the bastion from which SF104 warns, in seconds.",
    "From 900 s (AWS's limit) it is an error whatever this value.",
    default=300,
    low=1,
)
TIMEOUT_MS = _threshold(
    "sagefleet_preflight_timeout_ms",
    "Timeout of each network probe run on the host, in milliseconds.",
    default=3000,
    low=100,
)
FACTS_TIMEOUT = role_var(
    PREFLIGHT, "sagefleet_preflight_facts_timeout_s", "int",
    "How long the facts command may run on one host, in seconds: past it the command is "
    "stopped and the host reported as not diagnosed (a hung WMI query, a script that "
    "never ends), instead of holding the run for ever. Applies where sagefleet opens the "
    "WinRM session itself (sagefleet doctor, preflight.yml's fleet mode); in per_host "
    "mode, use the task keyword timeout.",
    default=300,
    low=30,
    high=3600,
    what="a number of seconds",
    doors=("preflight", "doctor"),
)
MODE = role_var(
    PREFLIGHT, "sagefleet_preflight_mode", "str",
    "How each host's facts are gathered. C(fleet) - one task on the bastion reaches "
    "every host at once (forks at a time) and hands each host its result. C(per_host) "
    "- each host's own task connects to it.",
    "A host whose connection the fleet task cannot reproduce (another connection "
    "plugin, become, Kerberos or CredSSP, several transports) runs per host whatever "
    "this value.",
    default="fleet",
    choices=("fleet", "per_host"),
    note="fleet: every host from one task on the bastion; per_host: each host's own task.",
    doors=("preflight",),
)
BASTION_PROBES = role_var(
    PREFLIGHT, "sagefleet_preflight_bastion_probes", "bool",
    "Also resolve every probed name from the bastion (dnspython).",
    option=True,
    default=False,
    doors=("preflight", "doctor"),
)
REPORT_DIR = role_var(
    PREFLIGHT, "sagefleet_preflight_report_dir", "path",
    "Where the fleet report is written on the bastion, as is; used again, it holds only "
    "the last run's report (the report files an earlier run left there are removed, never "
    "another file).",
    "Empty, one folder per run, reports/<inventory name>/preflight/<UTC time>/, and a "
    "link latest to the newest.",
    default="",
)
REPORT_FORMATS = role_var(
    PREFLIGHT, "sagefleet_preflight_report_formats", "list",
    "Report formats to write.",
    default=["console", "json", "junit", "html"],
    elements="str",
    choices=("console", "json", "junit", "html"),
)
FAIL_ON_BLOCKED = role_var(
    PREFLIGHT, "sagefleet_preflight_fail_on_blocked", "bool",
    "Fail each blocked host (exit code 2), at its checks task; the report after it lists "
    "every host. Unreachable hosts, and hosts that could not be diagnosed, always fail the "
    "run (exit code 4). May be set per host: each host ends by its own value, and the "
    "report's recap of each host says so.",
    default=False,
)

# -- diagnose: each variable is also the sagefleet_diagnose module's option --------------

DIAGNOSE_DEST = role_var(
    DIAGNOSE, "sagefleet_diagnose_dest", "path",
    "Folder of the support bundles on the bastion (one zip per host).",
    option=True,
    default="{{ playbook_dir }}/../reports/diagnose",
)
DIAGNOSE_RESTART = role_var(
    DIAGNOSE, "sagefleet_diagnose_restart", "bool",
    "Restart the agent service after collecting (never in check mode).",
    option=True,
    default=False,
)
#: The bounded whole numbers: (option, doc, default, highest); the lowest is 1.
DIAGNOSE_RESTART_TIMEOUT, DIAGNOSE_TAIL, DIAGNOSE_MAX_FILES, DIAGNOSE_EVENT_DAYS = (
    role_var(DIAGNOSE, name, "int", doc, option=True, default=default, low=1, high=high)
    for name, doc, default, high in (
        (
            "sagefleet_diagnose_restart_timeout_s",
            "Seconds to wait for the service to run again after a restart.",
            60,
            3600,
        ),
        ("sagefleet_diagnose_tail_kib", "Last KiB kept of each log file.", 256, 8192),
        (
            "sagefleet_diagnose_max_log_files",
            "Newest files kept per log folder; the older ones are named in the bundle's"
            " manifest (left_out).",
            3,
            50,
        ),
        ("sagefleet_diagnose_event_days", "Days of Windows event log entries collected.", 7, 365),
    )
)


def _log_dirs(name: str, *doc: str) -> Var:
    """Folders of log files the bundle takes (*.log); empty: the ones ``doc`` names."""
    return role_var(
        DIAGNOSE, name, "list", *doc,
        option=True,
        default=[],
        elements="str",
        what="a list of Windows folders",
    )


DIAGNOSE_AGENT_LOGS = _log_dirs(
    "sagefleet_diagnose_agent_log_dirs",
    "Folders of the agent's logs (*.log); empty for <install dir>\\logs and "
    "<install dir> (an assumption, see docs/package.md).",
)
DIAGNOSE_INSTALLER_LOGS = _log_dirs(
    "sagefleet_diagnose_installer_log_dirs",
    "Folders of installer logs (*.log); empty for sagefleet's staging folder and "
    "C:\\Windows\\Temp (Setup Log *.txt).",
)

# -- discover and host info --------------------------------------------------------------

DISCOVER_VARS = (
    role_var(
        DISCOVER, "sagefleet_discover_dest", "path",
        "Folder of the draft host_vars files on the bastion. Empty, "
        "reports/<inventory name>/discover/ (sagefleet_report_dir moves reports/): outside "
        "the inventory, where Ansible would read a draft as the host's variables; move each "
        "reviewed draft into host_vars/.",
        default="",
    ),
    role_var(
        DISCOVER, "sagefleet_discover_roots", "list",
        "More folders to search for .MAE files on the server.",
        default=[],
        elements="str",
    ),
    role_var(
        DISCOVER, "sagefleet_discover_force", "bool",
        "Overwrite existing draft files.",
        default=False,
    ),
    role_var(
        DISCOVER, "sagefleet_discover_max_depth", "int",
        "Sub-folder depth searched under each folder (0: the folder itself).",
        default=4,
        low=0,
    ),
)
HOST_INFO_SHOW = role_var(
    HOST_INFO, "sagefleet_host_info_show", "bool",
    "Print a one-line summary per host.",
    default=True,
)

# Documentation of the action plugin of the same name (action_plugins/sagefleet_diagnose.py):
# the bundle is assembled and written on the bastion.

DOCUMENTATION = r"""
module: sagefleet_diagnose
short_description: Collect a support bundle of a Sage 100 server running the Spendesk agent
description:
  - Runs the troubleshooting sequence for a disconnected agent on one host, and
    writes one zip per host on the bastion with a C(manifest.json) (files, sizes,
    SHA-256, collected_at, sagefleet version).
  - "Collects: the facts and the findings (service, connectivity to the endpoints
    from the host, TLS), the agent's own connections and its account's proxy (SF513), the
    service state, the agent's and the installer's log tails, the service's Windows event
    log entries, and settings.json with every secret redacted; and, from the inventory,
    the agent profile used (C(profile.json)) and the host's entities (C(entities.json)),
    their secrets redacted."
  - "Says what it left out: a log folder the WinRM account may not list (the host is
    then incomplete), and the logs past O(max_log_files) (the manifest's C(left_out))."
  - Explains a disconnected agent step by step (C(troubleshooting.json),
    C(troubleshooting.txt)) with a verdict naming the step that failed, in English or
    French (C(sagefleet_lang)).
  - Every secret the inventory knows for the host (entity passwords, the WinRM
    password) is masked in every collected file; the bundle is refused if one remains.
  - The host sends settings.json on stdout in a run Ansible does not log (no_log).
  - The service is restarted only when O(restart=true) (not in check mode).
version_added: "0.1.0"
options:
  dest:
    description:
      - Folder of the support bundles on the bastion (one zip per host).
    type: path
    required: true
  restart:
    description:
      - Restart the agent service after collecting (never in check mode).
    type: bool
    default: false
  restart_timeout_s:
    description:
      - Seconds to wait for the service to run again after a restart.
    type: int
    default: 60
  tail_kib:
    description:
      - Last KiB kept of each log file.
    type: int
    default: 256
  max_log_files:
    description:
      - Newest files kept per log folder; the older ones are named in the bundle's manifest
        (left_out).
    type: int
    default: 3
  event_days:
    description:
      - Days of Windows event log entries collected.
    type: int
    default: 7
  agent_log_dirs:
    description:
      - Folders of the agent's logs (*.log); empty for <install dir>\logs and <install dir>
        (an assumption, see docs/package.md).
    type: list
    elements: str
    default: []
  installer_log_dirs:
    description:
      - Folders of installer logs (*.log); empty for sagefleet's staging folder and C:\Windows\Temp
        (Setup Log *.txt).
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - sagefleet.docs.module
  - sagefleet.docs.module.windows
attributes:
  check_mode:
    support: full
    description: Collects the same; never restarts the service in check mode.
"""

EXAMPLES = r"""
- name: Collect the support bundle and restart the agent
  sagefleet_diagnose:
    dest: "{{ playbook_dir }}/../reports/diagnose"
    restart: true
  register: sagefleet_diagnose_result
"""

RETURN = r"""
bundle:
  description: Path of the zip written on the bastion.
  returned: success
  type: str
  sample: reports/diagnose/sage-01-20250301T101500Z.zip
status:
  description:
    - Status of the host, preflight's (ready, warnings, blocked, unreachable), or
      incomplete when part of what was asked was not read on the host (the host fails),
      or failed when the restart failed.
  returned: success
  type: str
not_read:
  description: 'What was asked but not read on the host, each "what: why".'
  returned: success
  type: list
  elements: str
service:
  description: The agent service as found (name, installed, state, start_mode, account).
  returned: success
  type: dict
restart:
  description: Restart outcome (requested, done, state_before, state_after, error), or null.
  returned: success
  type: dict
files:
  description: Names of the files in the bundle (manifest.json excluded).
  returned: success
  type: list
  elements: str
diagnosis:
  description:
    - The troubleshooting steps of a disconnected agent (service, account and proxy,
      reachability, TLS, the agent's own connections, log evidence, restart), each with
      ok true, false or null and what it found, and the verdict naming the first step that
      failed, in the host's sagefleet_lang (en or fr).
  returned: success
  type: dict
  sample: {outcome: failed, failed_step: account_proxy, verdict: "Step 2 failed (...): ..."}
"""

# Documentation of the action plugin of the same name (action_plugins/sagefleet_preflight.py):
# the checks run on the controller; the host only answers the facts snippet.

DOCUMENTATION = r"""
module: sagefleet_preflight
short_description: Diagnose a Sage 100 server before installing the Spendesk agent
description:
  - Gathers every fact the checks need in one PowerShell round trip (the C(facts)
    snippet), runs the sagefleet check catalog on the controller and returns the
    host's findings.
  - Reads C(sagefleet_entities) and the WinRM connection variables from the
    inventory itself; entity secrets never travel in task arguments.
  - A host that cannot be reached is reported as unreachable with the cause.
version_added: "0.1.0"
options:
  lang:
    description: Language of findings.
    type: str
    choices: [en, fr]
    default: en
  endpoints:
    description: Outbound endpoints to probe (name, port, tls, required); default the shipped list.
    type: list
    elements: dict
  expected_issuers:
    description: Regular expressions an endpoint certificate's issuer must match.
    type: list
    elements: str
  sage_catalog:
    description: Replacement for the shipped Sage version catalog (same shape as catalog/sage.yml).
    type: dict
  waivers:
    description: Waived checks, each with id, reason, optional expires (YYYY-MM-DD) and entity.
    type: list
    elements: dict
    default: []
  agent_service:
    description: Windows service name of the agent (default SpendeskSageAgent, an assumption).
    type: str
  service_account:
    description: Account the agent service will run as (DOMAIN\user).
    type: str
  target_version:
    description: Agent version the fleet is moving to, shown in SF403.
    type: str
  edition:
    description: Edition of a host without entities.
    type: str
    choices: [spc, onpremise]
  min_free_mb:
    description: Free space needed on C, in MiB.
    type: int
    default: 500
  max_clock_skew_s:
    description: Largest clock difference with the controller, in seconds.
    type: int
    default: 300
  timeout_ms:
    description: Timeout of each network probe run on the host.
    type: int
    default: 3000
  bastion_probes:
    description: Also resolve each probed name from the controller with dnspython.
    type: bool
    default: false
  dns_port:
    description: Port of the DNS servers the controller asks.
    type: int
    default: 53
  dns_servers:
    description: DNS servers the controller asks (default the system resolver).
    type: list
    elements: str
  allow_insecure_transport:
    description: Accept HTTP/Basic or unvalidated HTTPS (SF902 becomes a warning).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Read-only; runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing to diff.
  platform:
    platforms: windows
author:
  - sagefleet developers
"""

EXAMPLES = r"""
- name: Diagnose the host
  sagefleet_preflight:
    lang: fr
    waivers:
      - id: SF308
        reason: proxy validated by the client's network team
  register: sagefleet_preflight_result
"""

RETURN = r"""
status:
  description: ready, warnings, blocked or unreachable.
  returned: always
  type: str
  sample: blocked
host_report:
  description: The host's findings (schema of report.schema.json, hosts[]).
  returned: always
  type: dict
msg:
  description: One line summary with the failing check ids.
  returned: always
  type: str
  sample: "blocked: SF101, SF302"
"""

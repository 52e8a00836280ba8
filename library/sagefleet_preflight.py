# Documentation of the action plugin of the same name (action_plugins/sagefleet_preflight.py):
# the checks run on the bastion; the host only answers the facts snippet.

DOCUMENTATION = r"""
module: sagefleet_preflight
short_description: Diagnose a Sage 100 server before installing the Spendesk agent
description:
  - Gathers every fact the checks need in one PowerShell round trip (the C(facts)
    snippet), runs the sagefleet check catalog on the bastion and returns the
    host's findings.
  - Reads C(sagefleet_entities), the WinRM connection variables and every
    setting below from the host's variables itself (the variable named in each
    option, or the role's C(sagefleet_preflight_*) alias); entity secrets never
    travel in task arguments. An option given to the task overrides the variable.
  - A host that cannot be reached, or whose facts cannot be gathered, is
    reported, and ends the task, unreachable with the cause. A blocked host
    fails the task when C(sagefleet_preflight_fail_on_blocked) is true (the
    role's variable, read from the host's variables); C(msg) then gives the
    blocking checks, as the role's report does.
version_added: "0.1.0"
options:
  lang:
    description:
      - Language of findings and reports.
      - Default C(sagefleet_lang), else en.
    type: str
    choices: [en, fr]
  endpoints:
    description:
      - Outbound endpoints to probe from each host, as name, port, tls, required and firewall_names
        (what an FQDN-based firewall must also allow).
      - Default C(sagefleet_endpoints), else none.
    type: list
    elements: dict
  waivers:
    description:
      - Checks waived on a host or group, each with id, reason, optional expires (YYYY-MM-DD)
        and optional entity.
      - Default C(sagefleet_waivers), else none.
    type: list
    elements: dict
  sage_catalog:
    description:
      - Replacement for the shipped Sage version catalog (same shape as catalog/sage.yml).
      - Default C(sagefleet_sage_catalog), else none.
    type: dict
  edition:
    description:
      - Edition of a host without entities.
      - Default C(sagefleet_edition), else none.
    type: str
    choices: [spc, onpremise]
  dns_servers:
    description:
      - DNS servers the bastion asks.
      - Default C(sagefleet_dns_servers), else none.
    type: list
    elements: str
  dns_port:
    description:
      - Port of the DNS servers the bastion asks.
      - Default C(sagefleet_dns_port), else 53.
    type: int
  allow_insecure_transport:
    description:
      - Accept HTTP/Basic or unvalidated HTTPS (SF902 becomes a warning).
      - Default C(sagefleet_allow_insecure_transport), else false.
    type: bool
  target_version:
    description:
      - Agent version the fleet moves to (for example "3.2.0").
      - Default C(sagefleet_agent_target_version), else none.
    type: str
  service_account:
    description:
      - Windows account the agent service runs as (DOMAIN\user); a domain account is needed
        when the Sage files are on a network share. Unset, a new install runs as LocalSystem
        and an upgrade keeps the account the service runs as (which verification then accepts,
        SF504).
      - Default C(sagefleet_agent_service_account), else none.
    type: str
  service_name:
    description:
      - The agent's Windows service name; default from the agent profile (service.name, else
        its ImagePath/DisplayName pattern). Literal, no wildcard.
      - Default C(sagefleet_agent_service_name), else none.
    type: str
    aliases: [agent_service]
  min_free_mb:
    description:
      - Free space needed on C, in MiB.
      - Default C(sagefleet_preflight_min_free_mb), else 500.
    type: int
  max_clock_skew_s:
    description:
      - Clock difference with the bastion from which SF104 warns, in seconds.
      - From 900 s (AWS's limit) it is an error whatever this value.
      - Default C(sagefleet_preflight_max_clock_skew_s), else 300.
    type: int
  timeout_ms:
    description:
      - Timeout of each network probe run on the host, in milliseconds.
      - Default C(sagefleet_preflight_timeout_ms), else 3000.
    type: int
  bastion_probes:
    description:
      - Also resolve every probed name from the bastion (dnspython).
      - Default C(sagefleet_preflight_bastion_probes), else false.
    type: bool
extends_documentation_fragment:
  - sagefleet.docs.module
  - sagefleet.docs.module.windows
attributes:
  check_mode:
    support: full
    description: Read-only; runs the same in check mode.
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

# Documentation of the action plugin of the same name (action_plugins/sagefleet_outcome.py).

DOCUMENTATION = r"""
module: sagefleet_outcome
short_description: End a host's run with its outcome, so that PLAY RECAP names the host
description:
  - Runs on each host of the play, after the fleet report, and touches no host.
  - Fails the host (Ansible's exit code 2) when its status is in I(fail_on), marks it
    unreachable (exit code 4) when its status is in I(unreachable_on), each with
    its reason; otherwise the host is ok.
  - The statuses are sagefleet's (sagefleet.outcomes), e.g. installed, upgraded,
    unchanged, planned, blocked, unreachable, rolled-back, failed, verify-failed,
    incomplete, not-run.
version_added: "0.1.0"
options:
  status:
    description: The host's status, as M(sagefleet_report) returned it.
    type: str
    required: true
    choices:
      - failed
      - rolled-back
      - verify-failed
      - incomplete
      - blocked
      - unreachable
      - not-run
      - warnings
      - planned
      - installed
      - upgraded
      - downgraded
      - settings-updated
      - started
      - restarted
      - unchanged
      - verified
      - ready
  reason:
    description: Why the host ended in this status.
    type: str
    default: ""
  fail_on:
    description: Statuses that fail the host.
    type: list
    elements: str
    default: [failed, rolled-back, verify-failed, incomplete, not-run]
  unreachable_on:
    description: Statuses that mark the host unreachable.
    type: list
    elements: str
    default: [unreachable]
extends_documentation_fragment:
  - sagefleet.docs.module
  - sagefleet.docs.module.bastion
attributes:
  check_mode:
    support: full
    description: Touches nothing.
"""

EXAMPLES = r"""
- name: End each host with its outcome
  sagefleet_outcome:
    status: "{{ sagefleet_deploy_report.statuses[inventory_hostname] }}"
    reason: "{{ sagefleet_deploy_report.reasons[inventory_hostname] }}"
"""

RETURN = r"""
status:
  description: The host's status.
  returned: always
  type: str
"""

# Documentation of the action plugin of the same name (action_plugins/sagefleet_wave_gate.py):
# runs on the bastion after each wave of a rolling deploy.

DOCUMENTATION = r"""
module: sagefleet_wave_gate
short_description: Decide after a deploy wave whether the next wave may start
description:
  - Reads each host's registered deploy result and stops the rollout when the share
    of failed hosts (rolled back, failed or verify failed) exceeds the limit.
    Unreachable and blocked hosts do not count as failures.
  - When the wave was verified with the testinfra suites (M(sagefleet_verify)), it
    reads the report they wrote in this run and returns each verified host's verdict;
    a host whose verification failed is C(verify-failed) and stops the rollout.
  - Unlike Ansible's C(max_fail_percentage), it does not abort the playbook; the
    role ends the play, the hosts left are reported as C(not-run) and the report
    play still runs.
version_added: "0.1.0"
options:
  hosts:
    description: Inventory names of the wave's hosts.
    type: list
    elements: str
    required: true
  result_var:
    description: Name of the registered variable holding each host's deploy result.
    type: str
    default: sagefleet_agent_result
  max_fail_percentage:
    description:
      - Largest share of failed hosts, in percent, that lets the rollout go on.
      - Unset, the host's C(sagefleet_deploy_max_fail_percentage) (default 20).
    type: float
  verify:
    description:
      - The registered result of the wave's M(sagefleet_verify) task (none or skipped,
        not verified).
    type: dict
  verify_report:
    description: Folder where the wave's verification wrote its report.
    type: path
extends_documentation_fragment:
  - sagefleet.docs.module
  - sagefleet.docs.module.bastion
attributes:
  check_mode:
    support: full
    description: Reads registered results only.
"""

EXAMPLES = r"""
- name: Decide whether the next wave may start
  sagefleet_wave_gate:
    hosts: "{{ ansible_play_batch }}"
  run_once: true
  delegate_to: localhost
  register: sagefleet_agent_wave
"""

RETURN = r"""
verdict:
  description: C(continue), or C(stop) when no new wave may start (sagefleet.deploy.waves).
  returned: always
  type: str
stop:
  description: True when no new wave may start (the verdict is C(stop)).
  returned: always
  type: bool
failed_hosts:
  description: The wave's hosts that count against it (rolled back, failed, verify failed).
  returned: always
  type: list
  elements: str
outcomes:
  description: Deploy outcome of each host of the wave.
  returned: always
  type: dict
verify:
  description: Each verified host's verdict (status verified or verify-failed, reason, findings).
  returned: always
  type: dict
msg:
  description: The wave's verdict, with its failed hosts.
  returned: always
  type: str
"""

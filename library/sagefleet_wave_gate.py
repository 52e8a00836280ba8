# Documentation of the action plugin of the same name (action_plugins/sagefleet_wave_gate.py):
# runs on the controller after each wave of a rolling deploy.

DOCUMENTATION = r"""
module: sagefleet_wave_gate
short_description: Decide after a deploy wave whether the next wave may start
description:
  - Reads each host's registered deploy result and stops the rollout when the share
    of failed hosts (rolled back or failed) exceeds the limit. Unreachable and
    skipped hosts do not count as failures.
  - Unlike Ansible's C(max_fail_percentage), it does not abort the playbook; the
    hosts left are reported as not run and the fleet summary still runs.
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
    description: Largest share of failed hosts, in percent, that lets the rollout go on.
    type: float
    default: 20.0
attributes:
  check_mode:
    support: full
    description: Reads registered results only.
  diff_mode:
    support: none
    description: Nothing to diff.
  platform:
    platforms: posix
author:
  - sagefleet developers
"""

EXAMPLES = r"""
- name: Decide whether the next wave may start
  sagefleet_wave_gate:
    hosts: "{{ ansible_play_batch }}"
    max_fail_percentage: 20
  run_once: true
  delegate_to: localhost
  register: sagefleet_agent_wave
"""

RETURN = r"""
stop:
  description: True when no new wave may start.
  returned: always
  type: bool
outcomes:
  description: Deploy outcome of each host of the wave.
  returned: always
  type: dict
msg:
  description: The wave's verdict, with its failed hosts.
  returned: always
  type: str
"""

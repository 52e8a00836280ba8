# Documentation of the action plugin of the same name (action_plugins/sagefleet_report.py).

DOCUMENTATION = r"""
module: sagefleet_report
short_description: Write the fleet report of a sagefleet run
description:
  - Collects each host's registered result and writes the fleet report on the
    controller as a console table, JSON, JUnit XML and a self-contained HTML page.
  - Hosts without a result are reported as unreachable.
version_added: "0.1.0"
options:
  hosts:
    description: Inventory names of the hosts to report on.
    type: list
    elements: str
    required: true
  result_var:
    description: Name of the registered variable holding each host's result.
    type: str
    default: sagefleet_preflight_result
  dest:
    description: Folder on the controller where the report files are written.
    type: path
    required: true
  formats:
    description: Formats to write.
    type: list
    elements: str
    choices: [console, json, junit, html]
    default: [console, json, junit, html]
  title:
    description: Report title.
    type: str
    default: sagefleet preflight
  lang:
    description: Language of the report labels.
    type: str
    choices: [en, fr]
    default: en
  fail_on_blocked:
    description: Fail when a host is blocked or unreachable.
    type: bool
    default: false
  show:
    description: Print the console table.
    type: bool
    default: true
  fail_on_outcomes:
    description: Fail when a host's deploy outcome is one of these (for example failed).
    type: list
    elements: str
    default: []
  missing:
    description: Why a host without a result has none (shown in the report).
    type: str
    default: "no result: the host was unreachable or failed before preflight"
attributes:
  check_mode:
    support: full
    description: Reports are written on the controller in check mode too.
  diff_mode:
    support: none
    description: Nothing to diff.
  platform:
    platforms: posix
author:
  - sagefleet developers
"""

EXAMPLES = r"""
- name: Write the fleet report
  sagefleet_report:
    hosts: "{{ ansible_play_hosts_all }}"
    dest: "{{ playbook_dir }}/../reports/preflight"
  run_once: true
  delegate_to: localhost
"""

RETURN = r"""
files:
  description: Path of each file written, by format.
  returned: always
  type: dict
counts:
  description: Number of hosts per status.
  returned: always
  type: dict
  sample: {"ready": 3, "warnings": 1, "blocked": 1, "unreachable": 0}
blocked:
  description: Hosts whose findings block a deploy.
  returned: always
  type: list
  elements: str
"""

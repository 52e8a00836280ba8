# Documentation of the action plugin of the same name (action_plugins/sagefleet_report.py).

DOCUMENTATION = r"""
module: sagefleet_report
short_description: Write the fleet report of a sagefleet run
description:
  - Collects each host's registered result and writes the fleet report on the
    bastion as a console table, JSON, JUnit XML and a self-contained HTML page.
  - A deploy result gives the host its outcome (installed, upgraded, rolled-back,
    failed, blocked, unreachable...) with versions from and to, reason and duration,
    in every format; a settings result (M(sagefleet_settings)) its outcome and the
    entities written. A host without a result is unreachable, or C(not-run) when
    I(missing_status=not-run) (a deploy whose rollout stopped before its wave).
  - By default the report goes to C(reports/<inventory name>/<job>/<UTC time>/) and
    C(reports/<inventory name>/<job>/latest) points at it; I(dest) names a folder
    used as is.
  - It never fails the run. It returns each host's status and reason, and a task on
    each host (M(sagefleet_outcome)) fails the hosts that must be, so that PLAY RECAP
    names them.
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
  wave_var:
    description:
      - Name of the registered variable holding the result of each host's wave gate
        (M(sagefleet_wave_gate)); its verification verdicts make a host C(verify-failed).
    type: str
  after_var:
    description:
      - Name of the registered variable holding the result of a task that followed on
        each host (settings.yml's restart of the agent); when it failed, a host whose
        outcome passed is C(failed) (C(unreachable) when it could not reach the host),
        with its message as the reason; else its message is added to the plan.
    type: str
  dest:
    description: Folder on the bastion where the report files are written, as is.
    type: path
  folder:
    description: This run's report folder, as M(sagefleet_report_folder) returned it.
    type: dict
  job:
    description: Name of the job, the folder under C(reports/<inventory name>/).
    type: str
    default: preflight
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
    description: Language of the report labels; default C(sagefleet_lang) of the host the task
      runs for, else en.
    type: str
    choices: [en, fr]
  show:
    description: Print the console table.
    type: bool
    default: true
  missing:
    description: Reason given to a host without a result.
    type: str
    default: "no result: the host was unreachable or failed before preflight"
  missing_status:
    description: Status of a host without a result.
    type: str
    choices: [unreachable, not-run]
    default: unreachable
  fail_on_blocked:
    description:
      - Count C(blocked) among the statuses that fail every host (I(fail_on) in the
        result). Left out - false, unless I(fail_on_blocked_var) is given.
      - Every report says it too - a blocked host's JUnit outcome test case is a failure
        naming the blocking checks (else skipped), its JSON C(recap) is C(failed), its HTML
        badge C(rc-failed).
    type: bool
  fail_on_blocked_var:
    description:
      - Name of the boolean variable that says, for each host, whether C(blocked) fails
        it, as I(fail_on_blocked) does for every host - deploy.yml's
        C(sagefleet_deploy_fail_on_blocked), preflight's
        C(sagefleet_preflight_fail_on_blocked). Each blocked host's own value is read
        from its inventory variables (host_vars, group_vars, or C(-e)), the variable's
        declared default when it sets none; a value that is not a boolean is refused,
        naming the host.
      - Not with I(fail_on_blocked). The JSON report's C(fail_on_blocked) is true when
        the run fails every blocked host, false when it fails none, else the list of the
        blocked hosts it fails; without a blocked host, the value of the host the task
        runs for.
    type: str
  ended_in_result:
    description:
      - The task that registered I(result_var) ended each host itself (preflight's checks
        task, which read each host's I(fail_on_blocked_var) with the play's and the
        role's variables too) - a blocked host fails the run when its result failed, as
        PLAY RECAP says; I(fail_on_blocked_var) then decides only when no host is blocked.
    type: bool
    default: false
extends_documentation_fragment:
  - sagefleet.docs.module
  - sagefleet.docs.module.bastion
attributes:
  check_mode:
    support: full
    description: Reports are written on the bastion in check mode too.
"""

EXAMPLES = r"""
- name: Write the fleet report
  sagefleet_report:
    hosts: "{{ ansible_play_hosts_all }}"
    job: deploy
    result_var: sagefleet_agent_result
    fail_on_blocked_var: sagefleet_deploy_fail_on_blocked
  run_once: true
  delegate_to: localhost
  register: fleet_report

- name: End each host with its outcome
  sagefleet_outcome:
    status: "{{ fleet_report.statuses[inventory_hostname] }}"
    reason: "{{ fleet_report.reasons[inventory_hostname] }}"
    fail_on: "{{ fleet_report.fail_on[inventory_hostname] }}"
"""

RETURN = r"""
folder:
  description: The folder the report files were written to.
  returned: always
  type: str
latest:
  description: The C(latest) link of the job, when the report went to the default layout.
  returned: always
  type: str
files:
  description: Path of each file written, by format.
  returned: always
  type: dict
counts:
  description: Number of hosts per status, most urgent first.
  returned: always
  type: dict
  sample: {"blocked": 1, "unreachable": 0, "warnings": 1, "ready": 3}
statuses:
  description: Each host's status (sagefleet.outcomes).
  returned: always
  type: dict
reasons:
  description: Each host's reason (an outcome's reason or plan, the error, the failed checks).
  returned: always
  type: dict
blocked:
  description: Hosts whose findings block a deploy.
  returned: always
  type: list
  elements: str
fail_on:
  description:
    - By host, the statuses that fail it (failed, rolled-back, verify-failed, not-run,
      and blocked with I(fail_on_blocked) or the host's I(fail_on_blocked_var)), for
      M(sagefleet_outcome)'s I(fail_on).
  returned: always
  type: dict
  sample: {"sage01": ["failed", "rolled-back", "verify-failed", "not-run", "blocked"]}
marked:
  description:
    - By host, every status M(sagefleet_outcome) fails or marks unreachable with the
      host's I(fail_on).
  returned: always
  type: dict
"""

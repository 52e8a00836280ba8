# Documentation of the action plugin of the same name (action_plugins/sagefleet_validate.py).

DOCUMENTATION = r"""
module: sagefleet_validate
short_description: Validate the sagefleet inventory of every host before any is contacted
description:
  - Checks entities, waivers, endpoints, options and the WinRM transport (one whose
    library the bastion lacks, kerberos or credssp without pywinrm's extra) of every
    listed host on the bastion and fails with every error at once (host, entity,
    field, value, fix), so a bad input never leaves a fleet half-processed.
  - C(sagefleet validate) runs the same checks from the command line, before any run.
  - Secrets are masked in every message.
version_added: "0.1.0"
options:
  hosts:
    description: Inventory names of the hosts to validate.
    type: list
    elements: str
    required: true
  deploy:
    description: Also validate the deploy options (install and staging folders, service
      account and password, installer arguments and exit codes, timeouts, retries, lock).
    type: bool
    default: false
  settings:
    description: Also build each host's settings.json as the settings playbook and deploy
      do (implied by I(deploy)) - the entities' vendor files merged (an entity without one
      is an error under C(sagefleet_settings_source=vendor)), or the template rendered.
    type: bool
    default: false
  verify:
    description: Also build what the verification suites (C(tests/infra)) expect of each
      host, as they will (the agent's service and account, settings.json, target version,
      endpoints, staging folder), so that verify.yml refuses a bad input before they start.
    type: bool
    default: false
  role:
    description:
      - Folder of a role; every host's values are also checked against its
        C(meta/argument_specs.yml), for a role imported with C(rolespec_validate=false).
    type: path
  report:
    description:
      - The folder the run writes its reports to on the bastion, checked before any host
        is contacted (the bastion must be able to create and write it), instead of
        being found out at the report, after every host.
    type: dict
    suboptions:
      job:
        description: The job whose folder it is, C(reports/<inventory>/<job>/) under
          C(sagefleet_report_dir), when I(dest) is empty.
        type: str
      dest:
        description: The folder named by I(var); empty for the job's folder.
        type: str
        default: ""
      var:
        description: The variable that names I(dest), which an error names.
        type: str
        required: true
extends_documentation_fragment:
  - sagefleet.docs.module
  - sagefleet.docs.module.bastion
"""

EXAMPLES = r"""
- name: Validate the inventory of every host before contacting any
  sagefleet_validate:
    hosts: "{{ ansible_play_hosts_all }}"
  run_once: true
  delegate_to: localhost
"""

RETURN = r"""
hosts_checked:
  description: Number of hosts validated.
  returned: always
  type: int
errors:
  description: One line per input error.
  returned: failure
  type: list
  elements: str
refused_hosts:
  description:
    - The hosts whose input is refused, in the order checked. The task runs once for the
      fleet, so PLAY RECAP counts its failure on the first host of the play; the
      sagefleet_progress callback names these hosts under PLAY RECAP.
  returned: failure
  type: list
  elements: str
"""

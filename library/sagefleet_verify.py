# Documentation of the action plugin of the same name (action_plugins/sagefleet_verify.py).

DOCUMENTATION = r"""
module: sagefleet_verify
short_description: Run the testinfra verification suites against the inventory's hosts
description:
  - Runs pytest with the sagefleet.verify plugin on the bastion, against the
    hosts of the play's inventory sources.
  - The suites read the inventory themselves; the vault secrets the playbook was
    started with (--vault-password-file, --ask-vault-pass, --vault-id, AWX's vault
    credential) are handed over to them in memory, through a pipe the child
    inherits, never on the command line or in a file.
  - The sagefleet variables the playbook resolved for each host of the play's batch
    (an extra variable, a vaulted vars file, group and host vars) rank above the
    inventory's for the suites (C(--sagefleet-host-vars), a file in a private temporary
    folder removed when the suites end); a secret one (C(sagefleet_entities),
    C(sagefleet_agent_service_password), C(sagefleet_ssh_jump)) never goes there, the
    suites read it from the inventory and its vault.
  - Never fails on the suites' result; C(rc) says it (pytest's exit codes) and
    C(msg) says it in words.
version_added: "0.1.0"
options:
  suites:
    description: Folder of the testinfra suites (tests/infra, or an integrator's own).
    type: path
    required: true
  limit:
    description: Host pattern of the hosts to verify.
    type: str
    default: all
  workers:
    description: Hosts verified in parallel (pytest-xdist workers); 0 runs in one process.
    type: int
    default: 0
  report_dir:
    description: Folder of the fleet report and the JUnit XML; none when unset.
    type: path
  deploy_results:
    description:
      - A wave's verification. The name of the registered sagefleet_deploy results of the
        play's batch. Each host's target version, as its deploy said it (the package's
        version by default, or an extra variable), then ranks above the host's
        C(sagefleet_agent_target_version) for the suites (C(--sagefleet-host-vars)).
    type: str
extends_documentation_fragment:
  - sagefleet.docs.module
  - sagefleet.docs.module.bastion
attributes:
  check_mode:
    support: full
    description: Verification only reads; it runs in check mode too.
"""

EXAMPLES = r"""
- name: Verify the hosts of the play
  sagefleet_verify:
    suites: "{{ playbook_dir }}/../tests/infra"
    limit: "{{ ansible_limit | default('all') }}"
    workers: 4
    report_dir: "{{ playbook_dir }}/../reports/verify"
  run_once: true
  delegate_to: localhost
  register: sagefleet_verify_run
"""

RETURN = r"""
rc:
  description: pytest's exit code (0 passed, 1 a check failed, 4 the suites could not start).
  returned: always
  type: int
msg:
  description: The outcome in one line, with pytest's error when the suites could not start.
  returned: always
  type: str
cmd:
  description: The pytest command line (it holds no secret).
  returned: always
  type: list
stdout:
  description: pytest's output.
  returned: always
  type: str
stderr:
  description: pytest's error output.
  returned: always
  type: str
start:
  description: When the suites started (local time, as ansible.builtin.command says it).
  returned: always
  type: str
  sample: "2025-03-01 10:15:00.123456"
"""

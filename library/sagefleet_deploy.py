# Documentation of the action plugin of the same name (action_plugins/sagefleet_deploy.py):
# the deploy runs on the bastion and drives the host over its WinRM connection.

DOCUMENTATION = r"""
module: sagefleet_deploy
short_description: Install or upgrade the Spendesk agent on one Sage server, with rollback
description:
  - Runs preflight as a gate (a blocked host is skipped, never touched), plans an
    install, an upgrade, a settings change or nothing, takes the host's deploy lock,
    stages the package, writes settings.json beside the installer (the host's document
    laid over its current settings.json, whose own members are kept), installs
    unattended, checks that the service runs the target version and rolls back to
    the previous version on any failure.
  - Reads C(sagefleet_entities), the C(sagefleet_agent_*) and C(sagefleet_deploy_*)
    variables and the WinRM connection variables from the host's variables itself;
    entity and service-account secrets never travel in task arguments.
  - Check mode plans without touching the host; diff mode shows the settings change
    with secrets masked.
version_added: "0.1.0"
options:
  package:
    description:
      - The agent package as inspected on the bastion by M(sagefleet_package)
        (its C(package) return value), so every host gets the same verified file.
    type: dict
    required: true
extends_documentation_fragment:
  - sagefleet.docs.module
  - sagefleet.docs.module.windows
attributes:
  check_mode:
    support: full
    description: Plans without touching the host.
  diff_mode:
    support: full
    description: Shows the settings.json change, secrets masked.
"""

EXAMPLES = r"""
- name: Install or upgrade the agent
  sagefleet_deploy:
    package: "{{ sagefleet_agent_package_result.package }}"
  register: sagefleet_agent_result
"""

RETURN = r"""
outcome:
  description: What happened to the host, in the words of the fleet summary.
  returned: always
  type: str
  sample: upgraded
plan:
  description: What the run planned (or, in check mode, would do).
  returned: always
  type: str
  sample: "upgrade 2.3.0 -> 3.2.0"
previous_version:
  description: Agent version found on the host before the run.
  returned: always
  type: str
version:
  description: Agent version running after the run.
  returned: always
  type: str
reason:
  description: Why the host was skipped, failed or rolled back.
  returned: when not done as planned
  type: str
duration_s:
  description: Seconds spent on the host.
  returned: always
  type: float
settings_kept:
  description:
    - Members only the host's settings.json had (an installed agent's, or one left in
      the agent folder), kept in what is written, as key paths; never their values.
  returned: always
  type: list
  elements: str
backups_pruned:
  description:
    - The agent's backups (folder names in C(sagefleet_agent_backup_dir)) this run removed
      after an install or upgrade that ended well, beyond C(sagefleet_agent_keep_backups);
      empty in check mode, where the plan names those a run would remove. A backup a file
      in use kept is a warning, never a failure.
  returned: always
  type: list
  elements: str
host_report:
  description: The preflight findings of the host (schema of report.schema.json, hosts[]).
  returned: always
  type: dict
"""

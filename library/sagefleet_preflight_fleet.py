# Documentation of the action plugin of the same name (action_plugins/sagefleet_preflight_fleet.py):
# the fleet mode of the role sagefleet_preflight (src/sagefleet/ansible/preflight_play.py).

DOCUMENTATION = r"""
module: sagefleet_preflight_fleet
short_description: Diagnose every Sage server of the play at once, from the bastion
description:
  - Run once on the bastion (C(run_once), C(delegate_to) localhost), before the
    task C(sagefleet_preflight) of each host, which hands each host its result
    from this task's registered value without contacting it.
  - For each host of the play's batch it resolves the WinRM connection as
    ansible-core's winrm connection plugin would (the host's variables, vault
    included, the play's keywords, C(--ask-pass)), then gathers the facts and runs
    the checks of every host concurrently over direct pywinrm sessions, as
    C(sagefleet doctor) does, never more hosts at once than Ansible's forks.
  - A host whose C(sagefleet_preflight_mode) is C(per_host), or whose connection it
    cannot reproduce (another connection plugin, become, Kerberos or CredSSP,
    several transports), is left to its own C(sagefleet_preflight) task, with the
    reason in C(per_host).
version_added: "0.1.0"
options: {}
extends_documentation_fragment:
  - sagefleet.docs.module
  - sagefleet.docs.module.bastion
notes:
  - Returns C(process) (where the process it started leaves each host's result,
    a private folder and each host's file), C(per_host) (each host left to its
    own task, with the reason) and C(forks).
"""

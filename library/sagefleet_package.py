# Documentation of the action plugin of the same name (action_plugins/sagefleet_package.py):
# runs on the bastion only, before any host is contacted.

DOCUMENTATION = r"""
module: sagefleet_package
short_description: Inspect the Spendesk agent package on the bastion
description:
  - Opens the package (Setup.zip, or a folder) once on the bastion, refuses an
    unsafe or incomplete one (paths leaving the folder, links and other non-regular
    entries, no installer, no settings.json) before any host is touched, hashes it
    and lists its installers per Sage version.
  - Its C(package) return value is the argument of M(sagefleet_deploy) for every host.
version_added: "0.1.0"
options:
  path:
    description: Path of the package on the bastion.
    type: path
    required: true
  sha256:
    description: Expected SHA-256 of the package; a different file is refused.
    type: str
  hosts:
    description:
      - The play's hosts. The package's agent version must be each one's
        C(sagefleet_agent_target_version) (a host without one deploys the package's version),
        and an installer whose technology has no silent switches in the host's agent
        profile needs C(sagefleet_agent_installer_arguments). Checked before any host
        is touched.
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - sagefleet.docs.module
  - sagefleet.docs.module.bastion
"""

EXAMPLES = r"""
- name: Inspect the agent package
  sagefleet_package:
    path: "{{ sagefleet_agent_package }}"
    sha256: "{{ sagefleet_agent_package_sha256 | default(omit) }}"
    hosts: "{{ ansible_play_hosts }}"
  run_once: true
  delegate_to: localhost
  register: sagefleet_agent_package_result
"""

RETURN = r"""
package:
  description: Path, size, SHA-256, agent version and installers of the package.
  returned: success
  type: dict
msg:
  description: One line summary.
  returned: always
  type: str
"""

# This file only documents the action plugin of the same name:
# the work happens on the bastion (action_plugins/sagefleet_host_info.py),
# which runs the host_info PowerShell snippet over the host's connection.

DOCUMENTATION = r"""
module: sagefleet_host_info
short_description: Identity, operating system and clock of a Windows host
description:
  - Runs the sagefleet C(host_info) PowerShell snippet on the host over its
    Ansible connection (WinRM) in one round trip and returns its result.
  - Read-only; never changes the host.
  - Also returns the clock skew between the host and the bastion.
version_added: "0.1.0"
options: {}
extends_documentation_fragment:
  - sagefleet.docs.module
  - sagefleet.docs.module.windows
attributes:
  check_mode:
    support: full
    description: Read-only; behaves the same in check mode.
"""

EXAMPLES = r"""
- name: Read the host's identity
  sagefleet_host_info:
  register: sagefleet_info

- name: Show the operating system
  ansible.builtin.debug:
    msg: "{{ sagefleet_info.host_info.os_caption }}"
"""

RETURN = r"""
host_info:
  description: What the host reported.
  returned: success
  type: dict
  contains:
    hostname:
      description: The host's NetBIOS/DNS name.
      type: str
      sample: SAGE-ONPREM
    os_caption:
      description: Win32_OperatingSystem caption.
      type: str
      sample: Microsoft Windows Server 2019 Standard
    os_version:
      description: Windows version.
      type: str
      sample: "10.0.17763"
    os_build:
      description: Windows build number.
      type: int
      sample: 17763
    powershell_version:
      description: Windows PowerShell version.
      type: str
      sample: "5.1.17763.5576"
    utc_now:
      description: The host's clock in UTC, ISO 8601.
      type: str
      sample: "2026-11-28T10:00:00.0000000Z"
    clock_skew_s:
      description: Host clock minus the bastion's at the midpoint of the command's round
        trip, in seconds, rounded to 0.1 (null if unreadable).
      type: float
      sample: 0.4
"""

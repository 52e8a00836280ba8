# Documentation of the action plugin of the same name (action_plugins/sagefleet_agent_restart.py).

DOCUMENTATION = r"""
module: sagefleet_agent_restart
short_description: Restart the agent so that it reads settings.json again
description:
  - The agent reads settings.json when it starts. The settings role notifies this
    handler whenever it changed the file; it restarts (or starts) the agent service
    and fails the host when the agent does not run afterwards.
  - A service stuck pending past its timeout has its process killed, and the result
    says so. A host without the agent is left alone (it reads the settings when it
    is installed).
  - Finds the service as the host's agent profile (C(sagefleet_agent_profile)) says,
    by its name, else by its ImagePath or DisplayName pattern, with
    C(sagefleet_agent_service_name) overriding it; fails the host when several
    services match. Reads C(sagefleet_agent_stop_timeout_s) and
    C(sagefleet_agent_start_timeout_s).
version_added: "0.1.0"
options: {}
extends_documentation_fragment:
  - sagefleet.docs.module
  - sagefleet.docs.module.windows
attributes:
  check_mode:
    support: full
    description: Reads the service's state, restarts nothing.
"""

EXAMPLES = r"""
- name: Restart the agent so it reads its settings
  sagefleet_agent_restart: {}
"""

RETURN = r"""
state:
  description: The service's state after the restart.
  returned: success
  type: str
state_before:
  description: The service's state before.
  returned: success
  type: str
killed_pid:
  description: The process killed because the service stayed pending, if any.
  returned: success
  type: int
"""

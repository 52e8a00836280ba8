"""Vars plugin: Ansible's host_group_vars, naming the file, line and field of a bad YAML file.

ansible-core reports a YAML syntax error in host_vars/group_vars, or an unquoted
date that does not exist (``expires: 2026-02-30``), as "YAML parsing failed:
day is out of range for month", without the file. This plugin loads exactly
what ``ansible.builtin.host_group_vars`` loads (it is that plugin); when a file
cannot be read, sagefleet reads it again and the error names the host, the
file, the line and the field. Enabled in ansible.cfg (``vars_plugins_enabled``)
in place of ``host_group_vars``.
"""

from __future__ import annotations

import os
from typing import Any

from ansible.errors import AnsibleError, AnsibleParserError
from ansible.plugins.vars.host_group_vars import VarsModule as HostGroupVars

DOCUMENTATION = """
    name: sagefleet_host_group_vars
    short_description: host_group_vars, with the file, line and field of a bad YAML file
    requirements:
        - Enabled in configuration (vars_plugins_enabled), in place of host_group_vars
    description:
        - Loads host_vars/ and group_vars/ exactly as ansible.builtin.host_group_vars does.
        - A file that cannot be read (YAML syntax, an unquoted date that does not exist) is
          reported with its host, path, line and field.
    options:
      stage:
        ini:
          - key: stage
            section: vars_sagefleet_host_group_vars
        env:
          - name: ANSIBLE_VARS_PLUGIN_STAGE
      _valid_extensions:
        default: [".yml", ".yaml", ".json"]
        description:
          - Extensions of the variable files (YAML or JSON, vaulted or not).
        env:
          - name: ANSIBLE_YAML_FILENAME_EXT
        ini:
          - key: yaml_valid_extensions
            section: defaults
        type: list
        elements: string
    extends_documentation_fragment:
      - vars_plugin_staging
"""


class VarsModule(HostGroupVars):  # type: ignore[misc]
    def load_found_files(self, loader: Any, data: Any, found_files: list[str]) -> Any:
        try:
            return super().load_found_files(loader, data, found_files)
        except AnsibleError:
            # Imported here: the plugin loads (and the variables with it) even where
            # sagefleet itself cannot be imported.
            from sagefleet.inventory import yamlcheck

            found = yamlcheck.first_problem(found_files, _host_of(found_files))
            if found is None:
                raise
            raise AnsibleParserError(str(found)) from None


def _host_of(files: list[str]) -> str | None:
    """The host of a host_vars file (group_vars name a group: no host)."""
    for path in files:
        parts = os.path.normpath(path).split(os.sep)
        if "host_vars" in parts[:-1]:
            name = parts[parts.index("host_vars") + 1]
            return os.path.splitext(name)[0] if name.endswith((".yml", ".yaml", ".json")) else name
    return None

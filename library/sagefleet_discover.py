# Documentation of the action plugin of the same name (action_plugins/sagefleet_discover.py):
# the host is read with the discover snippet; the draft is written on the bastion.

DOCUMENTATION = r"""
module: sagefleet_discover
short_description: Draft the inventory of a Sage 100 server from what is installed on it
description:
  - Reads the Sage 100 products and versions (registry and programs) and the .MAE
    files under C(C:\Sage), the Sage product folders, C(C:\Users\Public\Documents\Sage)
    and O(roots), with each file's C(ServeurSQL=) line and database name.
  - Writes C(<dest>/<host>.yml) with one draft entity per .MAE file (secrets as vault
    placeholders such as C({{ vault_sql_password_<entity> }})) and
    C(<dest>/<host>.vault.yml), a commented vault skeleton, on the bastion.
  - An existing file is never overwritten unless O(force=true).
version_added: "0.1.0"
options:
  dest:
    description:
      - Folder of the drafts on the bastion, used as is.
      - Empty, C(reports/<inventory name>/discover/) (C(sagefleet_report_dir) moves
        C(reports/)). Not the inventory's C(host_vars/), where Ansible would read a draft
        as the host's variables, over the reviewed ones; move each reviewed draft there.
    type: path
    default: ""
  roots:
    description: More folders to search for .MAE files (e.g. a file server share).
    type: list
    elements: str
    default: []
  force:
    description: Overwrite existing draft files.
    type: bool
    default: false
  max_depth:
    description: Sub-folder depth searched under each folder.
    type: int
    default: 4
  max_files:
    description: Most .MAE files reported.
    type: int
    default: 200
extends_documentation_fragment:
  - sagefleet.docs.module
  - sagefleet.docs.module.windows
attributes:
  check_mode:
    support: full
    description: Reads the host, writes nothing.
"""

EXAMPLES = r"""
- name: Draft the entities of the server
  sagefleet_discover:
    dest: "{{ playbook_dir }}/../reports/discover/bijou"
    roots: ['D:\Comptabilite']
"""

RETURN = r"""
dest:
  description: The folder of the drafts.
  returned: success
  type: str
files:
  description: Each draft file with what happened to it (written, overwritten, unchanged, kept).
  returned: success
  type: dict
entities:
  description: Names of the draft entities.
  returned: success
  type: list
  elements: str
products:
  description: Sage products found (product, path, executable, version).
  returned: success
  type: list
  elements: dict
"""

# Documentation of the action plugin of the same name (action_plugins/sagefleet_settings.py):
# the content is built on the bastion; the host only runs the settings_write snippet.

DOCUMENTATION = r"""
module: sagefleet_settings
short_description: Write the Spendesk agent's settings.json on a Sage 100 server, or roll it back
description:
  - Builds the host's C(settings.json) on the bastion from its C(sagefleet_entities).
    By default (C(sagefleet_settings_source=vendor)) it is a true merge of the entities'
    vendor files (C(vendor_settings) or C(vendor_package)), keyed by connection; with
    C(sagefleet_settings_source=template), sagefleet's assumed layout rendered from the
    entities' fields. Its SHA-256 is compared with the file on the host; an identical
    file is left untouched.
  - The current file is read first (check mode, content hidden from the logs) and the
    write is refused, naming host and file, when it would put rendered content over a
    file not in the template layout (a vendor file), or drop a connection the current
    file holds (unless C(sagefleet_settings_drop_connections=true)).
  - Under the vendor source the document is laid over the current file, so nothing is
    lost - the new content wins for every member it carries, a member only the current
    file has (what the vendor's installer added) is kept and named in I(kept) and in the
    message (names only, never values). The SHA-256 compared is that of the result.
  - Writes atomically through the C(settings_write) PowerShell snippet, only if the file
    is still the one read. A temporary file in the same folder gets its ACL first (protected, no
    inheritance; Administrators and SYSTEM full control, named by SID since their names
    depend on the Windows language, the agent's service account read), then replaces
    the file in one step with C([System.IO.File]::Replace). The previous file is kept next to it as
    C(settings.json.<yyyyMMddTHHmmssZ>.bak); only the I(keep_backups) newest are kept.
  - The content holds SQL and Sage passwords. It travels on stdin only, never on the
    command line, in task arguments or in the snippet's parameters; the diff is redacted;
    when the previous content comes back for the diff, the connection's output logging is
    suppressed for that command.
  - With I(state=rollback), restores the newest backup (or I(backup)) the same atomic way.
    The file being replaced is not backed up, since the write play builds it again.
  - When the file is already as wanted but the running agent started before its last
    write (a restart that failed or never ran after an earlier write), the task reports
    I(restart_pending) and changed, so that the settings role's handler restarts the
    agent; the message names both times (the host's clock). This rests on the agent
    profile's C(settings.read_at_start) (the agent reads settings.json only when it
    starts); a profile that sets it false restarts only after a write.
  - The folder must exist (it is the agent's installation folder); a missing folder, a
    full disk or a refused access fails the task naming host and path, and leaves the
    previous file as it was.
version_added: "0.1.0"
options:
  state:
    description: C(present) writes the rendered settings; C(rollback) restores a backup.
    type: str
    choices: [present, rollback]
    default: present
  path:
    description:
      - Full Windows path of settings.json on the host.
      - Default where the host's agent profile puts it (C(settings.path), usually
        C(<install_dir>\settings.json); see docs/agent-profile.md).
    type: str
  install_dir:
    description:
      - Agent folder holding settings.json when I(path) is not given.
      - Default the agent profile's C(install.dir) (C(sagefleet_agent_profile), else the
        shipped profile's assumption; see docs/agent-profile.md).
    type: str
  service_account:
    description:
      - Account the agent service runs as, given read access (DOMAIN\user, .\user,
        NT SERVICE\name or LocalSystem).
      - Default C(LocalSystem), which is granted as SYSTEM (S-1-5-18); C(.\user) is the
        host's local account.
    type: str
  keep_backups:
    description: How many backups of previous files to keep next to settings.json (0 to 100).
    type: int
    default: 5
  backup:
    description:
      - With I(state=rollback), the name of the backup to restore
        (e.g. C(settings.json.20250131T142500Z.bak)); default the newest.
    type: str
extends_documentation_fragment:
  - sagefleet.docs.module
  - sagefleet.docs.module.windows
attributes:
  check_mode:
    support: full
    description: Compares hashes and reports what would change; sends no content, writes nothing.
  diff_mode:
    support: full
    description: Shows a unified diff of the redacted documents (passwords as ********).
notes:
  - Reads C(sagefleet_entities) and the C(sagefleet_settings_*) options from the inventory
    itself; entity secrets never travel in task arguments.
"""

EXAMPLES = r"""
- name: Write settings.json
  sagefleet_settings:
    state: present
    service_account: CORP\svc-spendesk
    keep_backups: 5

- name: Restore the newest backup of settings.json
  sagefleet_settings:
    state: rollback
"""

RETURN = r"""
path:
  description: Full path of settings.json on the host.
  returned: always
  type: str
  sample: C:\Program Files\Spendesk\Sage Agent\settings.json
state:
  description: present or rollback.
  returned: success
  type: str
sha256:
  description: SHA-256 of the file as it is (or would be) after the task.
  returned: success
  type: str
previous_sha256:
  description: SHA-256 of the file before the task; null when there was none.
  returned: success
  type: str
backup:
  description: Name of the backup of the previous file made by this write; null otherwise.
  returned: success
  type: str
  sample: settings.json.20250131T142500Z.bak
restored:
  description: Name of the backup a rollback restored (or would restore).
  returned: success
  type: str
backups:
  description: Backups next to settings.json after the task, newest first.
  returned: success
  type: list
  elements: str
pruned:
  description: Backups deleted because more than keep_backups were kept.
  returned: success
  type: list
  elements: str
kept:
  description:
    - Members only the host's current settings.json had, kept in what is written, as key
      paths (e.g. C(Connections[CompanyName=BIJOU].MaeFile)); never their values.
  returned: success
  type: list
  elements: str
agent_note:
  description:
    - When the file was not changed, what the host said of the running agent - a restart
      still owed (I(restart_pending)), an agent that is stopped, or why whether it read
      the file is unknown; empty otherwise.
  returned: success
  type: str
restart_pending:
  description:
    - The file was already as wanted, but the running agent started before its last
      write, so it runs without these settings; the task is changed so that the handler
      restarts it.
  returned: success
  type: bool
outcome:
  description:
    - The host's status in the fleet report of the settings role (sagefleet.outcomes) -
      C(settings-updated) (written or restored), C(restarted) (only a restart owed),
      C(unchanged), C(planned) (check mode, something would be done), C(failed) or
      C(unreachable). The restart that follows a change may still fail the host.
  returned: always
  type: str
reason:
  description: Why the host failed or could not be reached; null otherwise.
  returned: always
  type: str
plan:
  description: What was done (or would be, in check mode), with the entities written.
  returned: success
  type: str
entities:
  description: Names of the entities whose settings the file holds (empty for a rollback).
  returned: success
  type: list
  elements: str
msg:
  description: What happened, or the error naming host and path.
  returned: always
  type: str
"""

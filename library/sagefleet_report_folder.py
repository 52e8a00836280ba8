# Documentation of the action plugin of the same name (action_plugins/sagefleet_report_folder.py).

DOCUMENTATION = r"""
module: sagefleet_report_folder
short_description: Open a run's report folder, or read what the run wrote there
description:
  - C(state=open) creates C(reports/<inventory name>/<job>/<UTC time>/) on the
    bastion (the reports root is C(sagefleet_report_dir), default C(reports/) of
    the project; the inventory name is C(sagefleet_inventory_name) or the first
    inventory source's), or uses the folder I(dest) as is (made by what writes into
    it, so a run that writes nothing leaves no empty folder there).
  - C(state=closed) checks that the run wrote its report (I(report)) there, points
    C(latest) at it and returns the report's text and each host's status. A
    run that wrote nothing says so (its folder is removed), and no report of
    another run is shown as this run's.
version_added: "0.1.0"
options:
  state:
    description: Open the folder, or read what the run wrote into it.
    type: str
    choices: [open, closed]
    default: open
  job:
    description: Name of the job (preflight, deploy, verify); required with C(state=open).
    type: str
  dest:
    description: A folder to use as is (no time folder, no C(latest)).
    type: path
  folder:
    description: What C(state=open) returned; required with C(state=closed).
    type: dict
  report:
    description:
      - With C(state=closed), the file whose writing by this run makes the folder
        this run's report, and C(latest) point at it.
      - A fleet report (C(report.json), the default) also gives its text and each
        host's status; any other file (site.yml's C(host_info.json)) only that it
        was written.
    type: str
    default: report.json
extends_documentation_fragment:
  - sagefleet.docs.module
  - sagefleet.docs.module.bastion
attributes:
  check_mode:
    support: full
    description: Writes only on the bastion, as the reports do.
"""

EXAMPLES = r"""
- name: Open this run's report folder
  sagefleet_report_folder:
    job: verify
  run_once: true
  delegate_to: localhost
  register: verify_folder

- name: Read this run's report
  sagefleet_report_folder:
    state: closed
    folder: "{{ verify_folder }}"
  run_once: true
  delegate_to: localhost
"""

RETURN = r"""
path:
  description: The run's folder (state open).
  returned: success
  type: str
written:
  description: Whether the run wrote its report (state closed).
  returned: success
  type: bool
text:
  description: The console report the run wrote (state closed).
  returned: success
  type: str
statuses:
  description: Each host's status in the report (state closed).
  returned: success
  type: dict
"""

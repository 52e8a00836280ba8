"""An operator running ansible-playbook sees a retired variable name as Ansible's own
deprecation warning, naming the new one (no host is contacted: the validation task
runs on the bastion)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.support.fleets import ANSIBLE_PLAYBOOK, ROOT


def test_a_retired_variable_is_an_ansible_deprecation_warning(tmp_path: Path) -> None:
    (tmp_path / "hosts.yml").write_text(
        "all:\n"
        "  hosts:\n"
        "    localhost: {ansible_connection: local}\n"
        '    sage01: {sagefleet_agent_version: "3.2.0"}\n',
        encoding="utf-8",
    )
    (tmp_path / "play.yml").write_text(
        "- hosts: localhost\n"
        "  gather_facts: false\n"
        "  tasks:\n"
        "    - sagefleet_validate: {hosts: [sage01]}\n",
        encoding="utf-8",
    )
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")}
    process = subprocess.run(
        [ANSIBLE_PLAYBOOK, "-i", str(tmp_path / "hosts.yml"), str(tmp_path / "play.yml")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
        check=False,
    )
    output = " ".join((process.stdout + process.stderr).split())
    assert process.returncode == 0, output[-3000:]
    assert (
        "[DEPRECATION WARNING]: sage01: sagefleet_agent_version is deprecated and read until "
        "0.2.0 only: rename it sagefleet_agent_target_version" in output
    ), output[-3000:]
    assert "DeprecatedVariable" not in output  # not Python's warning: Ansible's own

"""ansible-playbook at -vvvv echoes its command-line arguments (ansible-core's default
callback): the values given with -e are echoed through sagefleet's console callback with
their secrets masked."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from sagefleet.ansible import masked_extra_vars
from tests.support.fleets import ANSIBLE_PLAYBOOK, ROOT

SECRETS = ("Canary-Winrm-7f3a", "Canary-Sql-91bd", "Canary Spaced 5e")


def test_a_password_given_with_e_is_masked_in_the_vvvv_echo(tmp_path: Path) -> None:
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.debug:\n        msg: ran\n",
        encoding="utf-8",
    )
    given = tmp_path / "given.yml"
    given.write_text("sagefleet_report_dir: /tmp/reports\n", encoding="utf-8")
    process = subprocess.run(
        [
            ANSIBLE_PLAYBOOK,
            "-vvvv",
            "-i",
            "localhost,",
            str(playbook),
            "-e",
            f"ansible_winrm_pass={SECRETS[0]}",
            "-e",
            f'sagefleet_agent_package=/srv/Setup.zip sagefleet_winrm_password="{SECRETS[2]}"',
            "-e",
            json.dumps({"sagefleet_entities": [{"company": "BIJOU", "sql_password": SECRETS[1]}]}),
            "-e",
            f"@{given}",
        ],
        cwd=ROOT,  # the project's ansible.cfg: its console callback
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1"},
    )
    output = process.stdout + process.stderr
    assert process.returncode == 0, output[-3000:]
    echoed = [line for line in output.splitlines() if line.startswith("extra_vars: ")]
    assert len(echoed) == 1, output[-3000:]
    for secret in SECRETS:
        assert secret not in output
    # What is not secret is still echoed, to debug a run by.
    assert "ansible_winrm_pass=********" in echoed[0]
    assert "sagefleet_agent_package=/srv/Setup.zip sagefleet_winrm_password=********" in echoed[0]
    assert '"company": "BIJOU", "sql_password": "********"' in echoed[0]
    assert f"@{given}" in echoed[0]


def test_each_form_of_e_is_masked_by_the_names_of_its_values() -> None:
    assert masked_extra_vars(
        ["ansible_become_pass=x1 user=admin", '[1, {"token": "t"}]', "@vars.yml"]
    ) == ("ansible_become_pass=******** user=admin", '[1, {"token": "********"}]', "@vars.yml")
    assert masked_extra_vars(None) == ()
    # Text it cannot read (an unclosed flow mapping) is not echoed at all.
    assert masked_extra_vars(['{"sql_password": "open']) == (
        "(not shown: sagefleet could not read it to mask its secrets)",
    )

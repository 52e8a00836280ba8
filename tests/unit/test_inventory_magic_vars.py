"""The variables Ansible gives an inventory's values, as every command reading an inventory
(``sagefleet.inventory.load``: validate, doctor, settings, ops) templates them."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sagefleet.inventory import load

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    path = tmp_path / "inv" / "hosts.yml"
    path.parent.mkdir()
    hosts = {"sage01": {"sagefleet_lang": "{{ playbook_dir }}"}}
    path.write_text(yaml.safe_dump({"all": {"children": {"sage_servers": {"hosts": hosts}}}}))
    return path


def test_playbook_dir_is_the_playbooks_folder_of_the_project(
    inventory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)  # where the runs start: ansible-playbook playbooks/<job>.yml
    (host,) = load([inventory], connect=False)
    assert host.variables["sagefleet_lang"] == str(ROOT / "playbooks")

"""The variables Ansible gives an inventory's values, as every command reading an inventory
(``sagefleet.inventory.load``: validate, doctor, settings, ops) templates them."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sagefleet.errors import InputError
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


def write(inventory: Path, values: dict[str, object]) -> None:
    hosts = {"sage01": values}
    inventory.write_text(yaml.safe_dump({"all": {"children": {"sage_servers": {"hosts": hosts}}}}))


def test_a_value_only_a_play_defines_is_refused_unless_left_to_the_run(
    inventory: Path,
) -> None:
    """doctor, settings and ops need the value: they refuse it as before; validate asks
    for it to be left to the run, said naming host, field and value."""
    write(inventory, {"sagefleet_lang": "{{ role_path | basename }}", "sagefleet_x": 1})
    with pytest.raises(InputError) as refused:
        load([inventory], connect=False)
    assert str(refused.value) == (
        "host sage01, field sagefleet_lang: cannot template the variable: 'role_path' is undefined"
    )
    (host,) = load([inventory], connect=False, at_run=True)
    assert "sagefleet_lang" not in host.variables
    assert host.variables["sagefleet_x"] == 1
    assert str(host.at_run["sagefleet_lang"]) == (
        "host sage01, field sagefleet_lang: uses role_path, which Ansible defines only in a "
        "play: checked at the run, by the playbooks' first task (value: "
        "'{{ role_path | basename }}')"
    )


def test_a_secret_left_to_the_run_is_not_shown(inventory: Path) -> None:
    write(inventory, {"ansible_password": "Canary-{{ ansible_play_batch | first }}"})
    (host,) = load([inventory], connect=False, at_run=True)
    note = str(host.at_run["ansible_password"])
    assert note.startswith("host sage01, field ansible_password: uses ansible_play_batch")
    assert "Canary" not in note


def test_playbook_dir_outside_the_project_folder_is_not_the_current_folder(
    inventory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(inventory.parent)  # no playbooks/ here
    with pytest.raises(InputError, match="'playbook_dir' is undefined"):
        load([inventory], connect=False)
    (host,) = load([inventory], connect=False, at_run=True)
    assert "the current folder has no playbooks/" in str(host.at_run["sagefleet_lang"])

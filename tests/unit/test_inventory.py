"""Reading the inventory and vault through Ansible's API, as ansible-playbook does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from ansible.parsing.vault import VaultLib, VaultSecret

from sagefleet.inventory import VaultOptions, load

VAULT_PASSWORD = b"correct horse battery staple"


def encrypt(value: str, indent: int = 10) -> str:
    vault = VaultLib([("default", VaultSecret(VAULT_PASSWORD))])
    text = vault.encrypt(value.encode()).decode()
    return "!vault |\n" + "".join(f"{' ' * indent}{line}\n" for line in text.splitlines())


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    folder = tmp_path / "client"
    (folder / "group_vars").mkdir(parents=True)
    (folder / "hosts.yml").write_text(
        "all:\n  children:\n    sage_servers:\n      hosts:\n"
        "        sage01: {ansible_host: 127.0.0.50}\n"
        "        sage02: {ansible_host: 127.0.0.51, ansible_port: 5985}\n"
    )
    (folder / "group_vars" / "sage_servers.yml").write_text(
        "ansible_connection: winrm\n"
        "ansible_user: svc-sagefleet\n"
        "ansible_password: '{{ vault_winrm_password }}'\n"
        "ansible_winrm_ca_trust_path: '{{ inventory_dir }}/ca.pem'\n"
        "sagefleet_lang: fr\n"
        f"vault_winrm_password: {encrypt('S3cret-from-vault')}"
    )
    password_file = tmp_path / "vault-pass"
    password_file.write_bytes(VAULT_PASSWORD + b"\n")
    return folder


def test_vault_password_is_decrypted_through_ansible(inventory: Path, tmp_path: Path) -> None:
    hosts = load([inventory / "hosts.yml"], vault=VaultOptions(password_files=(str(tmp_path / "vault-pass"),)))
    by_name = {h.name: h for h in hosts}
    target = by_name["sage01"].target
    assert target is not None
    assert target.password == "S3cret-from-vault"
    assert target.endpoint == "https://127.0.0.50:5986/wsman"
    assert target.ca_trust_path == f"{inventory}/ca.pem"
    assert by_name["sage01"].variables["sagefleet_lang"] == "fr"


def test_port_5985_means_http_as_in_ansible(inventory: Path, tmp_path: Path) -> None:
    hosts = load([inventory / "hosts.yml"], vault=VaultOptions(password_files=(str(tmp_path / "vault-pass"),)))
    target = {h.name: h for h in hosts}["sage02"].target
    assert target is not None and target.scheme == "http"


def test_password_never_shows_in_the_target_repr(inventory: Path, tmp_path: Path) -> None:
    hosts = load([inventory / "hosts.yml"], vault=VaultOptions(password_files=(str(tmp_path / "vault-pass"),)))
    assert "S3cret" not in repr(hosts)


def test_without_the_vault_password_the_error_is_clear(inventory: Path) -> None:
    # Vault secrets are process-wide in Ansible: prove it in a fresh process.
    code = (
        "import sys\n"
        "from sagefleet.errors import InputError\n"
        "from sagefleet.inventory import load\n"
        "try:\n"
        f"    load([{str(inventory / 'hosts.yml')!r}])\n"
        "except InputError as exc:\n"
        "    print(exc); sys.exit(3)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 3, result.stderr
    assert "host sage01" in result.stdout and "vault" in result.stdout.lower()
    assert "S3cret" not in result.stdout + result.stderr


def test_each_inventory_file_is_parsed_once_with_the_same_result(
    inventory: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ansible's auto and yaml plugins both read hosts.yml; sagefleet parses it once,
    and reads exactly what a plain DataLoader gives: vault values, templates written
    in hosts.yml itself, group_vars."""
    from ansible.parsing.dataloader import DataLoader

    import sagefleet.inventory as inventory_module

    hosts_file = inventory / "hosts.yml"
    hosts_file.write_text(
        "all:\n  children:\n    sage_servers:\n      hosts:\n"
        "        sage01:\n"
        "          ansible_host: 127.0.0.50\n"
        "          sagefleet_site: '{{ inventory_hostname }}-paris'\n"
        f"          sagefleet_sql_password: {encrypt('Inline-vault-Passw0rd', indent=12)}"
        "        sage02: {ansible_host: 127.0.0.51, ansible_port: 5985}\n"
    )
    vault_file = VaultOptions(password_files=(str(tmp_path / "vault-pass"),))
    parsed: list[str] = []
    plain_load = DataLoader.load

    def counting_load(
        self: DataLoader, data: object, file_name: str = "", **kwargs: object
    ) -> object:
        parsed.append(str(file_name))
        return plain_load(self, data, file_name, **kwargs)

    monkeypatch.setattr(DataLoader, "load", counting_load)
    fast = load([hosts_file], vault=vault_file)
    assert parsed.count(str(hosts_file)) == 1, parsed

    parsed.clear()
    monkeypatch.setattr(inventory_module, "_parse_once_loader", DataLoader)
    plain = load([hosts_file], vault=vault_file)
    assert parsed.count(str(hosts_file)) == 2, parsed  # what the shortcut saves
    assert fast == plain
    sage01 = {h.name: h for h in fast}["sage01"]
    assert sage01.variables["sagefleet_site"] == "sage01-paris"
    assert sage01.variables["sagefleet_sql_password"] == "Inline-vault-Passw0rd"
    assert sage01.variables["sagefleet_lang"] == "fr"  # group_vars, read through the cache


def test_a_plugin_inventory_is_read_as_ansible_playbook_reads_it(tmp_path: Path) -> None:
    """A dynamic inventory (here ansible.builtin.generator, named as a collection
    plugin as azure.azcollection.azure_rm would be) goes through the auto plugin."""
    source = tmp_path / "fleet.yml"
    source.write_text(
        "plugin: ansible.builtin.generator\n"
        "hosts:\n  name: 'sage-{{ site }}'\n"
        "layers:\n  site: [lyon, nantes]\n"
    )
    # The collection loader is process-wide: prove it in a fresh process.
    code = (
        "from sagefleet.inventory import load\n"
        f"print(sorted(h.name for h in load([{str(source)!r}], connect=False)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['sage-lyon', 'sage-nantes']", result.stderr

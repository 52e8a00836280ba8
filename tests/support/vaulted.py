"""Vault-encrypted inventories for the tests: the WinRM passwords out of hosts.yml."""

from __future__ import annotations

from pathlib import Path

import yaml
from ansible.parsing.vault import VaultLib, VaultSecret

VAULT_PASSWORD = b"tests vault passphrase, not a real one"


def encrypt(text: str, password: bytes = VAULT_PASSWORD, vault_id: str = "default") -> str:
    """``text`` as a whole-file vault, as `ansible-vault encrypt` writes it."""
    vault = VaultLib([(vault_id, VaultSecret(password))])
    label = None if vault_id == "default" else vault_id
    return vault.encrypt(text.encode(), vault_id=label).decode()


def inline(value: str, password: bytes = VAULT_PASSWORD, indent: int = 2) -> str:
    """``value`` as an inline ``!vault`` scalar, as `ansible-vault encrypt_string` writes it."""
    lines = encrypt(value, password).splitlines()
    return "!vault |\n" + "".join(f"{' ' * indent}{line}\n" for line in lines)


def vault_the_passwords(
    inventory: Path, password: bytes = VAULT_PASSWORD, vault_id: str = "default"
) -> Path:
    """Move each host's ansible_password out of ``inventory`` into an encrypted
    ``host_vars/<host>/vault.yml``; write the password file beside the inventory folder.

    Returns the password file."""
    data = yaml.safe_load(inventory.read_text(encoding="utf-8"))
    hosts = data["all"]["children"]["sage_servers"]["hosts"]
    for name, variables in hosts.items():
        folder = inventory.parent / "host_vars" / name
        folder.mkdir(parents=True, exist_ok=True)
        secret = yaml.safe_dump({"ansible_password": variables.pop("ansible_password")})
        (folder / "vault.yml").write_text(encrypt(secret, password, vault_id), encoding="utf-8")
    inventory.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    password_file = inventory.parent.parent / "vault-pass"
    password_file.write_bytes(password + b"\n")
    password_file.chmod(0o600)
    return password_file

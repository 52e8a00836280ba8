"""Reading the inventory and vault through Ansible's API, as ansible-playbook does."""

from __future__ import annotations

import datetime as dt
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from ansible.parsing.vault import VaultLib, VaultSecret

from sagefleet.checks import parse_waivers
from sagefleet.errors import InputError
from sagefleet.inventory import (
    VAULT_FD_ENV,
    VaultError,
    VaultOptions,
    current_secrets,
    load,
    secrets_for_child,
)

VAULT_PASSWORD = b"correct horse battery staple"


def encrypt(value: str, indent: int = 10) -> str:
    vault = VaultLib([("default", VaultSecret(VAULT_PASSWORD))])
    text = vault.encrypt(value.encode()).decode()
    return "!vault |\n" + "".join(f"{' ' * indent}{line}\n" for line in text.splitlines())


def vault_of(tmp_path: Path) -> VaultOptions:
    """--vault-password-file with the password file the inventory fixture writes."""
    return VaultOptions(password_files=(str(tmp_path / "vault-pass"),))


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
    hosts = load([inventory / "hosts.yml"], vault=vault_of(tmp_path))
    by_name = {h.name: h for h in hosts}
    target = by_name["sage01"].target
    assert target is not None
    assert target.password == "S3cret-from-vault"
    assert target.endpoint == "https://127.0.0.50:5986/wsman"
    assert target.ca_trust_path == f"{inventory}/ca.pem"
    assert by_name["sage01"].variables["sagefleet_lang"] == "fr"


def test_port_5985_means_http_as_in_ansible(inventory: Path, tmp_path: Path) -> None:
    hosts = load([inventory / "hosts.yml"], vault=vault_of(tmp_path))
    target = {h.name: h for h in hosts}["sage02"].target
    assert target is not None and target.scheme == "http"


def test_password_never_shows_in_the_target_repr(inventory: Path, tmp_path: Path) -> None:
    hosts = load([inventory / "hosts.yml"], vault=vault_of(tmp_path))
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
    """With Ansible's default order of inventory plugins, auto and yaml both read
    hosts.yml; sagefleet parses it once, and reads exactly what a plain DataLoader gives:
    vault values, templates written in hosts.yml itself, group_vars. (The project's
    ansible.cfg puts yaml first, which parses once too: doctor run under another
    ansible.cfg still gets the shortcut.)"""
    from ansible import constants
    from ansible.parsing.dataloader import DataLoader

    import sagefleet.inventory as inventory_module

    default_order = ["host_list", "script", "auto", "yaml", "ini", "toml"]
    monkeypatch.setattr(constants, "INVENTORY_ENABLED", default_order)

    hosts_file = inventory / "hosts.yml"
    hosts_file.write_text(
        "all:\n  children:\n    sage_servers:\n      hosts:\n"
        "        sage01:\n"
        "          ansible_host: 127.0.0.50\n"
        "          sagefleet_site: '{{ inventory_hostname }}-paris'\n"
        f"          sagefleet_sql_password: {encrypt('Inline-vault-Passw0rd', indent=12)}"
        "        sage02: {ansible_host: 127.0.0.51, ansible_port: 5985}\n"
    )
    vault_file = vault_of(tmp_path)
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


# -- vault secrets handed over to a child process ------------------------------------


def child_load(inventory: Path, **popen: object) -> subprocess.CompletedProcess[str]:
    """A fresh process (vault secrets are process-wide in Ansible) that loads the
    inventory with no vault option at all."""
    code = (
        "import os, sys\n"
        "from sagefleet.errors import InputError\n"
        "from sagefleet.inventory import VAULT_FD_ENV, load\n"
        "try:\n"
        f"    hosts = load([{str(inventory / 'hosts.yml')!r}])\n"
        "except InputError as exc:\n"
        "    print(exc); sys.exit(3)\n"
        "print({h.name: h.target.password for h in hosts}['sage01'])\n"
        "print(VAULT_FD_ENV in os.environ)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, **popen
    )


def test_secrets_handed_over_in_memory_open_the_vault_of_a_child(inventory: Path) -> None:
    with secrets_for_child([("default", VAULT_PASSWORD)]) as (env, fds):
        assert list(env) == [VAULT_FD_ENV] and len(fds) == 1
        assert stat.S_ISFIFO(os.fstat(fds[0]).st_mode)  # a pipe, not a file
        result = child_load(inventory, env={**os.environ, **env}, pass_fds=fds)
    assert result.returncode == 0, result.stdout + result.stderr
    # Decrypted; and the variable is gone, so the child's own children never read it.
    assert result.stdout.split() == ["S3cret-from-vault", "False"]


def test_without_a_handover_the_child_cannot_open_the_vault(inventory: Path) -> None:
    result = child_load(inventory)
    assert result.returncode == 3 and "vault" in result.stdout.lower(), result.stderr


def test_a_descriptor_that_is_not_a_handover_is_refused_in_one_line(inventory: Path) -> None:
    with open(inventory / "hosts.yml", "rb") as not_a_pipe:
        result = child_load(
            inventory,
            env={**os.environ, VAULT_FD_ENV: str(not_a_pipe.fileno())},
            pass_fds=(not_a_pipe.fileno(),),
        )
    assert result.returncode == 3, result.stderr
    assert VAULT_FD_ENV in result.stdout and len(result.stdout.strip().splitlines()) == 1


def test_the_vault_password_file_of_the_environment_applies(
    inventory: Path, tmp_path: Path
) -> None:
    result = child_load(
        inventory, env={**os.environ, "ANSIBLE_VAULT_PASSWORD_FILE": str(tmp_path / "vault-pass")}
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.split()[0] == "S3cret-from-vault"


def test_current_secrets_are_what_opened_the_vault(inventory: Path, tmp_path: Path) -> None:
    load([inventory / "hosts.yml"], vault=vault_of(tmp_path))
    assert ("default", VAULT_PASSWORD) in current_secrets()


def test_a_missing_password_file_is_one_line_naming_the_option(inventory: Path) -> None:
    with pytest.raises(VaultError) as error:
        load(
            [inventory / "hosts.yml"],
            vault=VaultOptions(ids=("prod@/nonexistent/vault-pass",)),
        )
    text = str(error.value)
    assert "field --vault-id" in text and "/nonexistent/vault-pass" in text
    assert "\n" not in text


def test_a_whole_file_vault_that_does_not_open_names_the_file(inventory: Path) -> None:
    secret = VaultLib([("default", VaultSecret(b"another password"))])
    vault_file = inventory / "group_vars" / "all.yml"
    vault_file.write_bytes(secret.encrypt(b"sagefleet_site: lyon\n"))
    result = child_load(inventory)
    assert result.returncode == 3, result.stderr
    line = result.stdout.strip()
    assert "\n" not in line and str(vault_file) in line and "host sage01" in line


# -- variables files Ansible cannot read ------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "field", "words"),
    [
        (
            "sagefleet_lang: fr\nsagefleet_entities: [\n  - name: x\n",
            "line 3",
            "field sagefleet_entities",
            "YAML syntax error",
        ),
        (
            "sagefleet_waivers:\n  - id: SF308\n    reason: proxy\n    expires: 2026-02-30\n",
            "line 4",
            "field sagefleet_waivers[0].expires",
            "day is out of range for month",
        ),
        (
            "sagefleet_lang: fr\nsagefleet_site: 'lyon\n",
            "line 3",
            "field sagefleet_site",
            "YAML syntax error",
        ),
    ],
)
def test_a_bad_host_vars_file_names_the_host_file_line_and_field(
    inventory: Path, tmp_path: Path, text: str, line: str, field: str, words: str
) -> None:
    (inventory / "host_vars").mkdir()
    bad = inventory / "host_vars" / "sage02.yml"
    bad.write_text(text)
    with pytest.raises(InputError) as error:
        load([inventory / "hosts.yml"], vault=vault_of(tmp_path))
    message = str(error.value)
    assert message.startswith(f"host sage02, {field}: {bad}, {line}"), message
    assert words in message and "\n" not in message


def test_a_bad_group_vars_file_is_named_too(inventory: Path, tmp_path: Path) -> None:
    bad = inventory / "group_vars" / "all.yml"
    bad.write_text("sagefleet_waivers:\n  - {id: SF308, reason: x, expires: 2025-13-01}\n")
    with pytest.raises(InputError) as error:
        load([inventory / "hosts.yml"], vault=vault_of(tmp_path))
    assert f"{bad}, line 2" in str(error.value)
    assert "sagefleet_waivers[0].expires" in str(error.value)


def test_an_unquoted_real_date_in_a_waiver_is_a_date(inventory: Path, tmp_path: Path) -> None:
    (inventory / "host_vars").mkdir()
    (inventory / "host_vars" / "sage01.yml").write_text(
        "sagefleet_waivers:\n  - id: SF308\n    reason: proxy\n    expires: 2027-03-31\n"
    )
    (host,) = load([inventory / "hosts.yml"], vault=vault_of(tmp_path), names=["sage01"])
    (waiver,) = parse_waivers("sage01", host.variables["sagefleet_waivers"])
    assert waiver.expires == dt.date(2027, 3, 31)


def test_values_without_a_template_are_read_as_templating_gives_them(
    inventory: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A value that holds no template is not templated again (a walk of every list and
    mapping); a template anywhere inside a list or mapping, or a vault value, still is."""
    import sagefleet.inventory as inventory_module

    (inventory / "host_vars").mkdir()
    (inventory / "host_vars" / "sage01.yml").write_text(
        "sagefleet_entities:\n"
        "  - {name: FR01, mae: 'C:\\Sage\\FR01.mae', sql_port: 1433, tls: true, note: null}\n"
        "  - {name: '{{ inventory_hostname | upper }}-02', mae: 'C:\\Sage\\{{ \"FR02\" }}.mae'}\n"
        "sagefleet_plain: {levels: [1, 2.5, 'three'], nested: {deep: [x]}}\n"
        f"sagefleet_sql_password: {encrypt('Vaulted-Passw0rd')}"
    )
    fast = load([inventory / "hosts.yml"], vault=vault_of(tmp_path))
    monkeypatch.setattr(inventory_module, "without_template", lambda value, templar: False)
    templated = load([inventory / "hosts.yml"], vault=vault_of(tmp_path))
    assert fast == templated
    variables = {h.name: h for h in fast}["sage01"].variables
    assert variables["sagefleet_entities"][1] == {"name": "SAGE01-02", "mae": "C:\\Sage\\FR02.mae"}
    assert variables["sagefleet_entities"][0]["sql_port"] == 1433
    assert variables["sagefleet_sql_password"] == "Vaulted-Passw0rd"


def test_hosts_variables_read_plain_values_as_kept_and_template_the_others(
    tmp_path: Path,
) -> None:
    """SagefleetAction.hosts_variables (the validation of every host at once) takes a
    value without a template as Ansible keeps it and has hostvars template the others:
    the same values as hostvars gives for each, in both kinds."""
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar
    from ansible.utils.collection_loader import AnsibleCollectionConfig
    from ansible.vars.hostvars import HostVars
    from ansible.vars.manager import VariableManager

    from sagefleet.ansible.action import SagefleetAction
    from sagefleet.inventory import sagefleet_var_names

    if AnsibleCollectionConfig.collection_finder is None:
        from ansible.plugins.loader import init_plugin_loader

        init_plugin_loader()
    (tmp_path / "host_vars").mkdir()
    (tmp_path / "hosts.yml").write_text(
        "all:\n  hosts:\n    sage01: {sagefleet_site: paris}\n    sage02: {}\n"
    )
    (tmp_path / "host_vars" / "sage01.yml").write_text(
        "sagefleet_entities:\n"
        "  - {name: FR01, mae: 'C:\\Sage\\FR01.mae', sql_port: 1433, tls: true, note: null}\n"
        "  - {name: '{{ inventory_hostname | upper }}-{{ sagefleet_site }}'}\n"
        "sagefleet_plain: {levels: [1, 2.5, 'three'], nested: {deep: [x]}}\n"
        "sagefleet_lang: '{{ \"fr\" }}'\n"
    )
    loader = DataLoader()
    manager = InventoryManager(loader=loader, sources=[str(tmp_path / "hosts.yml")])
    hostvars = HostVars(
        inventory=manager,
        variable_manager=VariableManager(loader=loader, inventory=manager),
        loader=loader,
    )
    action = SagefleetAction.__new__(SagefleetAction)
    action.task_vars = {"hostvars": hostvars}
    action._templar = Templar(loader=loader)

    read = action.hosts_variables(["sage01", "sage02"])
    expected = {
        h: {n: hostvars[h][n] for n in sagefleet_var_names(hostvars[h])}
        for h in ("sage01", "sage02")
    }
    assert read == expected
    assert read["sage01"]["sagefleet_entities"][1] == {"name": "SAGE01-paris"}
    assert read["sage01"]["sagefleet_lang"] == "fr"
    assert read["sage01"]["sagefleet_plain"]["levels"] == [1, 2.5, "three"]
    # The plain value is the one Ansible keeps, not a copy; a templated one is new.
    kept = hostvars.raw_get("sage01")
    assert read["sage01"]["sagefleet_plain"] is kept["sagefleet_plain"]
    assert read["sage01"]["sagefleet_entities"] is not kept["sagefleet_entities"]


def test_an_inventory_that_does_not_exist_is_named_before_ansible_reads_any(
    inventory: Path, tmp_path: Path
) -> None:
    """Ansible only warns and goes on with no host: "no host matches" said the wrong thing."""
    missing = tmp_path / "nonexist" / "hosts.yml"
    for sources in ([missing], [inventory, missing]):
        with pytest.raises(InputError) as refused:
            load(sources, vault=vault_of(tmp_path))
        assert refused.value.field == "-i/--inventory"
        assert refused.value.message == f"inventory not found: {missing}"
    assert [h.name for h in load(["sage01,sage02,"])] == ["sage01", "sage02"]  # a host list


@pytest.mark.parametrize("given", ["file", "folder"])
def test_an_inventory_ansible_cannot_parse_is_refused_pointing_at_its_warning(
    inventory: Path, tmp_path: Path, given: str
) -> None:
    hosts = inventory / "hosts.yml"
    hosts.write_text("all:\n  hosts:\n    sage01: {ansible_host: [\n")  # a YAML error
    source = hosts if given == "file" else inventory
    with pytest.raises(InputError) as refused:
        load([source], vault=vault_of(tmp_path))
    assert refused.value.field == "-i/--inventory"
    assert refused.value.message == f"the inventory could not be read: {source}"
    assert "Ansible's warning above" in (refused.value.fix or "")


@pytest.mark.parametrize(
    ("transport", "flag"), [("kerberos", "HAVE_KERBEROS"), ("credssp", "HAVE_CREDSSP")]
)
def test_a_transport_whose_library_the_bastion_lacks_is_an_input_error(
    inventory: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, transport: str, flag: str
) -> None:
    # pywinrm would say so only at the first command: doctor called the host unreachable
    # and selftest failed every snippet, though no host was contacted.
    import winrm.transport

    monkeypatch.setattr(winrm.transport, flag, False)
    with (inventory / "group_vars" / "sage_servers.yml").open("a") as file:
        file.write(f"\nansible_winrm_transport: {transport}\n")
    with pytest.raises(InputError) as caught:
        load([inventory / "hosts.yml"], vault=vault_of(tmp_path))
    said = caught.value.render()
    assert caught.value.field == "ansible_winrm_transport" and f"pywinrm[{transport}]" in said

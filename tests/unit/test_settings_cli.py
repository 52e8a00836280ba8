"""Specification of ``sagefleet settings merge|render|validate``, called in-process via argparse."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import yaml
from tests.support.entities import spc_entity

from sagefleet.cli.common import SETTINGS_EXIT_CODES
from sagefleet.cli.settings import add_subparser
from sagefleet.settings import MASK, dumps, redact

EXAMPLE = Path(__file__).resolve().parents[2] / "inventory" / "example"
VENDOR = Path(__file__).resolve().parents[1] / "fixtures" / "vendor_settings"
EXAMPLE_HOST = "sage-bijou-01.bijou.lan"


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="sagefleet")
    add_subparser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["settings", *argv])
    code: int = args.func(args)
    return code


def write_json(path: Path, document: object) -> Path:
    path.write_text(json.dumps(document))
    return path


def entity_yaml(**changes: object) -> dict[str, object]:
    return spc_entity(**{"sql_password": "{{ vault_sql }}", **changes})


#: The template source, chosen explicitly (the default is the vendor's files).
TEMPLATE = {"sagefleet_settings_source": "template"}


def vars_file(tmp_path: Path, extra: dict[str, object] | None = None, **changes: object) -> Path:
    path = tmp_path / "srv1.yml"
    path.write_text(
        yaml.safe_dump(
            {
                "vault_sql": "cli-secret-123",
                "sagefleet_entities": [entity_yaml(**changes)],
                **(extra or {}),
            }
        )
    )
    return path


def test_merge_writes_the_merged_file(tmp_path: Path) -> None:
    a = write_json(tmp_path / "a.json", {"schemaVersion": 1, "connections": [{"name": "B"}]})
    b = write_json(tmp_path / "b.json", {"schemaVersion": 1, "connections": [{"name": "A"}]})
    out = tmp_path / "merged.json"
    assert run("merge", str(a), str(b), "-o", str(out)) == 0
    assert json.loads(out.read_text())["connections"] == [{"name": "A"}, {"name": "B"}]


def test_merge_conflict_exits_2_naming_both_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = write_json(
        tmp_path / "a.json", {"schemaVersion": 1, "connections": [{"name": "A", "x": 1}]}
    )
    b = write_json(
        tmp_path / "b.json", {"schemaVersion": 1, "connections": [{"name": "A", "x": 2}]}
    )
    out = tmp_path / "merged.json"
    assert run("merge", str(a), str(b), "-o", str(out)) == 2
    err = capsys.readouterr().err
    assert "connections[name=A].x" in err and str(a) in err and str(b) in err
    assert not out.exists()


def test_merge_takes_files_of_any_layout_without_a_schema(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = write_json(tmp_path / "a.json", {"other": 1})
    assert run("merge", str(a)) == 0
    assert json.loads(capsys.readouterr().out) == {"other": 1}


def test_merge_with_a_declared_key(tmp_path: Path) -> None:
    out = tmp_path / "merged.json"
    files = [str(VENDOR / "ambiguous-b.settings.json"), str(VENDOR / "ambiguous-a.settings.json")]
    assert run("merge", *files, "--key", "Connections=CompanyName", "-o", str(out)) == 0
    merged = json.loads(out.read_text())
    assert [c["CompanyName"] for c in merged["Connections"]] == ["BIJOU", "CHOCO"]


def test_merge_detects_the_key_of_vendor_files_without_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "merged.json"
    files = [str(VENDOR / "choco.settings.json"), str(VENDOR / "bijou.settings.json")]
    assert run("merge", *files, "-o", str(out)) == 0
    text = out.read_text(encoding="utf-8")
    assert not text.startswith("\ufeff")  # written without the byte order mark
    merged = json.loads(text)
    assert [c["CompanyName"] for c in merged["Connections"]] == ["BIJOU", "CHOCO"]
    assert list(merged) == ["FormatVersion", "Environment", "Connections"]  # vendor's order
    assert "Vendor-" not in capsys.readouterr().err


def test_merge_of_an_ambiguous_list_exits_2_asking_to_declare(
    capsys: pytest.CaptureFixture[str],
) -> None:
    files = [str(VENDOR / "ambiguous-a.settings.json"), str(VENDOR / "ambiguous-b.settings.json")]
    assert run("merge", *files) == 2
    err = capsys.readouterr().err
    assert "can be keyed by CompanyName or ConnectionId" in err
    assert "--key Connections=CompanyName" in err


def test_merge_conflict_of_vendor_files_names_the_key_path_and_hides_secrets(
    capsys: pytest.CaptureFixture[str],
) -> None:
    files = [str(VENDOR / "bijou.settings.json"), str(VENDOR / "bijou-regenerated.settings.json")]
    assert run("merge", *files, "--key", "Connections=CompanyName") == 2
    err = capsys.readouterr().err
    assert "field Connections[CompanyName=BIJOU].Sql.Pwd" in err
    assert "Vendor-Sql-Secret" not in err


@pytest.mark.parametrize("bad", ["Connections", "=CompanyName", "a..b=Name", "Connections="])
def test_merge_with_a_malformed_key_is_a_usage_error(
    bad: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        run("merge", str(VENDOR / "bijou.settings.json"), "--key", bad)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "--key" in err and ("PATH=MEMBER" in err or "is not a key path" in err)


def test_merge_of_missing_file_exits_2(tmp_path: Path) -> None:
    assert run("merge", str(tmp_path / "nope.json")) == 2


def test_render_writes_settings_with_references_resolved(tmp_path: Path) -> None:
    out = tmp_path / "settings.json"
    assert run("render", "--entities", str(vars_file(tmp_path, TEMPLATE)), "-o", str(out)) == 0
    settings = json.loads(out.read_text())
    assert settings["connections"][0]["sql"]["password"] == "cli-secret-123"
    assert out.read_text() == dumps(settings)


def test_a_document_printed_has_every_secret_masked_and_the_file_holds_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """stdout is a terminal or a CI log: the vault's passwords never reach it."""
    path = vars_file(tmp_path, TEMPLATE)
    assert run("render", "--entities", str(path)) == 0
    out, err = capsys.readouterr()
    assert "cli-secret-123" not in out + err
    assert json.loads(out)["connections"][0]["sql"]["password"] == MASK
    assert "secret values are shown as ********; -o FILE writes the document itself" in err
    vendor_files = [str(VENDOR / n) for n in ("bijou.settings.json", "two-companies.settings.json")]
    assert run("merge", *vendor_files) == 0
    out, err = capsys.readouterr()
    assert "Vendor-" not in out and "vendor-" not in out
    merged = tmp_path / "merged.json"
    assert run("merge", *vendor_files, "-o", str(merged)) == 0
    assert json.loads(out) == redact(json.loads(merged.read_text()))
    assert "Vendor-Sql-Secret-Zephyr" in merged.read_text()
    assert merged.stat().st_mode & 0o777 == 0o600


def test_render_of_invalid_entities_exits_2_without_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = vars_file(tmp_path, analytic_plan=0, sql_password="cli-secret-456")
    assert run("render", "--entities", str(path)) == 2
    err = capsys.readouterr().err
    assert "analytic_plan" in err and "cli-secret-456" not in err


def test_render_needs_host_when_file_holds_several(tmp_path: Path) -> None:
    path = tmp_path / "fleet.yml"
    path.write_text(
        yaml.safe_dump(
            {
                "h1": {"sagefleet_entities": [entity_yaml(sql_password="p1")], **TEMPLATE},
                "h2": {"sagefleet_entities": [entity_yaml(sql_password="p2")], **TEMPLATE},
            }
        )
    )
    assert run("render", "--entities", str(path)) == 2
    assert (
        run("render", "--entities", str(path), "--host", "h2", "-o", str(tmp_path / "o.json")) == 0
    )


def test_validate_reports_every_problem_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = vars_file(tmp_path, analytic_plan="abc", edition="cloud")
    assert run("validate", str(path)) == 2
    err = capsys.readouterr().err
    assert "field analytic_plan" in err and "field edition" in err
    assert "2 problem(s) found" in err and "cli-secret-123" not in err


def test_validate_valid_file_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("validate", str(vars_file(tmp_path, TEMPLATE))) == 0
    assert capsys.readouterr().out == "OK: 1 host(s), 1 entity(ies)\n"


def test_validate_refuses_a_host_without_entities_and_an_inventory_given_as_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Both printed OK: a host without entities (which preflight blocks and deploy.yml
    refuses), and an inventory's hosts.yml read as a file of host variables."""
    hosts = tmp_path / "hosts.yml"
    hosts.write_text(
        yaml.safe_dump(
            {
                "h1": yaml.safe_load(vars_file(tmp_path, TEMPLATE).read_text()),
                "h2": {"sagefleet_lang": "fr"},
            }
        )
    )
    assert run("validate", str(hosts)) == 2
    said = capsys.readouterr()
    assert "host h2, field sagefleet_entities: no entity" in said.err and "OK" not in said.out
    inventory = tmp_path / "inventory.yml"
    inventory.write_text("all:\n  children:\n    sage_servers:\n      hosts:\n        h1: {}\n")
    assert run("validate", str(inventory)) == 2
    said = capsys.readouterr()
    assert "this is an Ansible inventory, not a file of host variables" in said.err
    assert f"settings validate -i {inventory}" in said.err and "OK" not in said.out


def test_validate_flags_an_undefined_reference(tmp_path: Path) -> None:
    path = vars_file(tmp_path, sql_password="{{ not_defined }}")
    assert run("validate", str(path)) == 2


def test_a_host_vars_file_read_alone_points_at_the_inventory(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The example's host_vars use group_vars' names and inventory_dir: only -i resolves them.
    assert run("validate", str(EXAMPLE / "host_vars" / f"{EXAMPLE_HOST}.yml")) == 2
    err = capsys.readouterr().err
    assert "inventory_dir" in err and "-i INVENTORY" in err


def test_validate_rejects_duplicate_yaml_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "dup.yml"
    path.write_text("sagefleet_entities: []\nsagefleet_entities: []\n")
    assert run("validate", str(path)) == 2
    assert "duplicate key" in capsys.readouterr().err


def test_example_inventory_validates_and_merges_its_two_vendor_files(tmp_path: Path) -> None:
    host_vars: dict[str, object] = {"inventory_dir": str(EXAMPLE)}  # as Ansible sets it
    for part in [
        EXAMPLE / "group_vars" / "bijou" / "vars.yml",
        EXAMPLE / "group_vars" / "bijou" / "vault.yml",
        EXAMPLE / "host_vars" / f"{EXAMPLE_HOST}.yml",
    ]:
        host_vars.update(yaml.safe_load(part.read_text()))
    combined = tmp_path / "combined.yml"
    combined.write_text(yaml.safe_dump({EXAMPLE_HOST: host_vars}))
    out = tmp_path / "settings.json"
    assert run("render", "--entities", str(combined), "-o", str(out)) == 0
    names = [c["CompanyName"] for c in json.loads(out.read_text())["Connections"]]
    assert names == ["BIJOU", "BIJOUIMMO"]


def test_example_inventory_uses_winrm_over_https() -> None:
    group = yaml.safe_load((EXAMPLE / "group_vars" / "bijou" / "vars.yml").read_text())
    assert group["ansible_connection"] == "winrm"
    assert (group["ansible_port"], group["ansible_winrm_scheme"]) == (5986, "https")
    assert group["ansible_winrm_transport"] == "ntlm"
    assert "ansible_winrm_ca_trust_path" in group


def test_render_output_is_redactable(tmp_path: Path) -> None:
    out = tmp_path / "settings.json"
    run("render", "--entities", str(vars_file(tmp_path, TEMPLATE)), "-o", str(out))
    assert redact(json.loads(out.read_text()))["connections"][0]["sql"]["password"] == MASK


def vendor_vars_file(tmp_path: Path) -> Path:
    """One host whose settings.json comes from the vendor's file (the default source)."""
    return vars_file(tmp_path, vendor_settings=str(VENDOR / "bijou.settings.json"))


@pytest.mark.parametrize("command", ["validate", "render"])
@pytest.mark.parametrize("source", ["vendor", "template"])
def test_a_template_that_does_not_exist_is_an_input_error_under_either_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, source: str
) -> None:
    """Under the vendor source it was ignored: OK, and the document written."""
    path = vendor_vars_file(tmp_path) if source == "vendor" else vars_file(tmp_path, TEMPLATE)
    missing = tmp_path / "nope.json.j2"
    out = tmp_path / "settings.json"
    given = ["--entities", str(path), "-o", str(out)] if command == "render" else [str(path)]
    assert run(command, *given, "--template", str(missing)) == 2
    err = capsys.readouterr().err
    assert (
        f"error: field --template: cannot read template {missing}: No such file or directory "
        f"(value: {missing}). Fix: point to an existing, readable Jinja2 template"
    ) in err
    assert not out.exists()


@pytest.mark.parametrize("command", ["validate", "render"])
def test_a_template_under_the_vendor_source_is_refused_not_ignored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    template = tmp_path / "mine.json.j2"
    template.write_text("{}")
    path = vendor_vars_file(tmp_path)
    out = tmp_path / "settings.json"
    given = ["--entities", str(path), "-o", str(out)] if command == "render" else [str(path)]
    assert run(command, *given) == 0
    out.unlink(missing_ok=True)
    assert run(command, *given, "--template", str(template)) == 2
    err = capsys.readouterr().err
    assert (
        "field --template: has no meaning under the vendor source: host srv1 takes its "
        "settings.json from the vendor's files (sagefleet_settings_source: vendor) "
        f"(value: {template}). Fix: leave --template out, or set "
        "sagefleet_settings_source: template"
    ) in err, err
    assert not out.exists()


def test_a_template_is_taken_when_one_host_checked_renders_with_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    template = tmp_path / "mine.json.j2"
    shipped = Path(__file__).resolve().parents[2] / "src/sagefleet/templates"
    template.write_text((shipped / "settings_entity.json.j2").read_text())
    vendor_host = yaml.safe_load(vendor_vars_file(tmp_path).read_text())
    template_host = yaml.safe_load(vars_file(tmp_path, TEMPLATE).read_text())
    fleet = tmp_path / "fleet.yml"
    fleet.write_text(yaml.safe_dump({"h1": vendor_host, "h2": template_host}))
    assert run("validate", str(fleet), "--template", str(template)) == 0
    assert capsys.readouterr().out == "OK: 2 host(s), 2 entity(ies)\n"


@pytest.mark.parametrize("command", ["validate", "render", "merge"])
def test_each_commands_help_documents_its_exit_codes(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """Input errors exit 2, as every other command's: --help says so."""
    with pytest.raises(SystemExit):
        run(command, "--help")
    text = capsys.readouterr().out
    assert "exit codes:" in text
    for code, meaning in SETTINGS_EXIT_CODES.items():
        assert f"  {code:<4} {meaning}" in text
    assert set(SETTINGS_EXIT_CODES) == {0, 2}

"""The agent profile: loading, validation errors naming file and field, inventory overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from sagefleet.agent import profile as agent_profile
from sagefleet.deploy import check_installer_arguments, installer_arguments, options_from
from sagefleet.errors import InputError
from sagefleet.package import Installer, PackageInfo

HOST = "sage01"


def write(path: Path, **changes: Any) -> Path:
    """The shipped profile with ``changes`` (dotted field -> value) applied, as a file."""
    data = agent_profile.default().to_dict()
    for dotted, value in changes.items():
        section, _, key = dotted.partition(".")
        if key:
            data[section][key] = value
        else:
            data[section] = value
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def error_of(call: Any, *args: Any, **kwargs: Any) -> InputError:
    with pytest.raises(InputError) as caught:
        call(*args, **kwargs)
    return caught.value


# -- the shipped profile ------------------------------------------------------------------


def test_the_shipped_profile_lists_its_guesses() -> None:
    profile = agent_profile.default()
    assert profile.source == "assumed"
    assert profile.is_assumed("service.name") and profile.is_assumed("installer.silent_args")
    assert profile.is_assumed("logs.dir")  # a field of an assumed section
    assert not profile.is_assumed("agent.target_framework")


def test_an_empty_path_is_the_shipped_profile() -> None:
    assert agent_profile.load(None) is agent_profile.default()
    assert agent_profile.load("  ") is agent_profile.default()
    assert agent_profile.for_host({"sagefleet_agent_profile": ""}) is agent_profile.default()


def test_settings_path_follows_the_install_folder() -> None:
    profile = agent_profile.default()
    assert profile.settings_path() == profile.install_dir + "\\settings.json"
    assert profile.settings_path("D:/Agent/") == "D:\\Agent\\settings.json"


# -- loading a file -----------------------------------------------------------------------


def test_a_relative_profile_is_read_from_the_inventory_folder(tmp_path: Path) -> None:
    write(tmp_path / "agent.yml", **{"service.name": "VendorAgent", "install.dir": "D:\\Agent"})
    variables = {"sagefleet_agent_profile": "agent.yml", "inventory_dir": str(tmp_path)}
    profile = agent_profile.for_host(variables, host=HOST)
    assert (profile.service_name, profile.install_dir) == ("VendorAgent", "D:\\Agent")
    assert profile.origin == str(tmp_path / "agent.yml")


def test_whether_the_agent_reads_settings_only_at_start_is_an_assumption(tmp_path: Path) -> None:
    """The settings role's restart still owed rests on it: assumed true, a profile may say
    otherwise (a profile without the field, as older ones, keeps the assumption)."""
    assert agent_profile.default().reads_settings_at_start
    assert agent_profile.default().is_assumed("settings.read_at_start")
    written = write(tmp_path / "agent.yml", **{"settings.read_at_start": False})
    variables = {"sagefleet_agent_profile": str(written)}
    assert not agent_profile.for_host(variables, host=HOST).reads_settings_at_start
    data = agent_profile.default().to_dict()
    del data["settings"]["read_at_start"]
    (tmp_path / "old.yml").write_text(yaml.safe_dump(data), encoding="utf-8")
    variables = {"sagefleet_agent_profile": str(tmp_path / "old.yml")}
    assert agent_profile.for_host(variables, host=HOST).reads_settings_at_start
    written = write(tmp_path / "bad.yml", **{"settings.read_at_start": "no"})
    error = error_of(agent_profile.for_host, {"sagefleet_agent_profile": str(written)}, host=HOST)
    assert "read_at_start" in str(error)


def test_a_missing_profile_names_host_variable_and_path(tmp_path: Path) -> None:
    error = error_of(
        agent_profile.for_host, {"sagefleet_agent_profile": str(tmp_path / "no.yml")}, host=HOST
    )
    assert (error.host, error.field) == (HOST, "sagefleet_agent_profile")
    assert "does not exist" in str(error) and "no.yml" in str(error)


def test_a_profile_that_is_not_a_path_is_refused() -> None:
    error = error_of(agent_profile.for_host, {"sagefleet_agent_profile": ["a.yml"]}, host=HOST)
    assert (error.host, error.field) == (HOST, "sagefleet_agent_profile")


def test_invalid_yaml_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yml"
    path.write_text("service:\n  name: [unclosed\n", encoding="utf-8")
    error = error_of(agent_profile.load, str(path), host=HOST)
    assert "broken.yml" in str(error) and "line" in str(error) and error.host == HOST


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"installer.technology": "setup-factory"}, "installer.technology", "setup-factory"),
        ({"service.display_name": 42}, "service.display_name", "42"),
        ({"install.dir": ""}, "install.dir", "''"),
        ({"source": "guessed"}, "source", "guessed"),
    ],
)
def test_a_bad_field_names_the_file_and_the_field(
    tmp_path: Path, changes: dict[str, Any], field: str, words: str
) -> None:
    path = write(tmp_path / "bad.yml", **changes)
    error = error_of(agent_profile.load, str(path), host=HOST)
    assert error.field == f"sagefleet_agent_profile {field}"
    assert str(path) in str(error) and words in str(error) and error.host == HOST


def test_an_unknown_field_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "extra.yml", **{"service.colour": "blue"})
    error = error_of(agent_profile.load, str(path))
    assert "colour" in str(error) and error.field == "sagefleet_agent_profile service"


def test_a_service_name_with_a_wildcard_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "wild.yml", **{"service.name": "Spendesk*"})
    error = error_of(agent_profile.load, str(path))
    assert "wildcard" in str(error) and "service.name" in str(error) and str(path) in str(error)


def test_a_service_needs_a_name_or_a_pattern(tmp_path: Path) -> None:
    path = write(tmp_path / "none.yml", **{"service.name": None})
    assert "needs a name or a pattern" in str(error_of(agent_profile.load, str(path)))
    path = write(
        tmp_path / "pattern.yml",
        **{"service.name": None, "service.image_path_pattern": r"\\Agent\.exe"},
    )
    assert agent_profile.load(str(path)).service_lookup == {
        "name": None,
        "image_path_pattern": r"\\Agent\.exe",
        "display_name_pattern": None,
    }


def test_a_pattern_that_is_no_regular_expression_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "re.yml", **{"service.display_name_pattern": "(unclosed"})
    error = error_of(agent_profile.load, str(path))
    assert error.field == "sagefleet_agent_profile service.display_name_pattern"


def test_msi_silent_args_take_only_properties(tmp_path: Path) -> None:
    args = dict(agent_profile.default().data["installer"]["silent_args"], msi=["/qn"])
    path = write(tmp_path / "msi.yml", **{"installer.silent_args": args})
    error = error_of(agent_profile.load, str(path))
    assert error.field == "sagefleet_agent_profile installer.silent_args.msi"
    args["msi"] = ["AGENTDIR=D:\\Agent"]
    path = write(tmp_path / "msi.yml", **{"installer.silent_args": args})
    assert agent_profile.load(str(path)).silent_args("msi") == ("AGENTDIR=D:\\Agent",)


# -- inventory overrides on top of the profile ------------------------------------------


def test_inventory_variables_win_over_the_profile(tmp_path: Path) -> None:
    write(
        tmp_path / "agent.yml",
        **{"service.name": "VendorAgent", "service.display_name_pattern": "^Vendor"},
    )
    variables = {
        "sagefleet_agent_profile": str(tmp_path / "agent.yml"),
        "sagefleet_agent_service_name": "OtherAgent",
        "sagefleet_agent_install_dir": "E:/Other/",
        "sagefleet_agent_service_display_name": "Other Agent",
    }
    profile = agent_profile.for_host(variables, host=HOST)
    # An exact name from the inventory: no pattern decides in its place.
    assert profile.service_lookup == {
        "name": "OtherAgent",
        "image_path_pattern": None,
        "display_name_pattern": None,
    }
    assert (profile.install_dir, profile.service_display_name) == ("E:\\Other", "Other Agent")
    assert profile.settings_path() == "E:\\Other\\settings.json"
    assert profile.overridden("service.name") == "sagefleet_agent_service_name"
    assert not profile.is_assumed("install.dir")
    assert profile.source_of("install.dir") == "sagefleet_agent_install_dir"


def test_unset_variables_and_an_empty_settings_path_leave_the_profile() -> None:
    variables = {"sagefleet_agent_install_dir": None, "sagefleet_settings_path": ""}
    assert agent_profile.for_host(variables) is agent_profile.default()


def test_installer_arguments_override_every_technology() -> None:
    profile = agent_profile.for_host({"sagefleet_agent_installer_arguments": ["/S", "/D={log}"]})
    assert profile.silent_args("nsis") == profile.silent_args("inno") == ("/S", "/D={log}")
    assert installer_arguments(profile, "inno", "C:\\l.log") == ["/S", "/D=C:\\l.log"]


def test_success_codes_override_and_reboot_codes_follow() -> None:
    profile = agent_profile.for_host({"sagefleet_agent_success_codes": [0, 3010]})
    assert (profile.success_codes, profile.reboot_codes) == ((0, 3010), (3010,))


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        ("sagefleet_agent_service_name", "Spendesk*", "wildcard"),
        ("sagefleet_agent_service_name", "", "service name"),
        ("sagefleet_agent_service_display_name", "", "non-empty string"),
        ("sagefleet_agent_installer_arguments", "/S", "list of strings"),
        ("sagefleet_agent_success_codes", [3010], "including 0"),
        ("sagefleet_agent_install_dir", 5, "non-empty string"),
    ],
)
def test_a_bad_override_names_host_variable_and_value(
    variable: str, value: Any, words: str
) -> None:
    error = error_of(agent_profile.for_host, {variable: value}, host=HOST)
    assert (error.host, error.field) == (HOST, variable)
    assert words in str(error) and repr(value)[:20] in str(error)


# -- what deploy acts on ------------------------------------------------------------------


def test_deploy_options_come_from_the_profile(tmp_path: Path) -> None:
    write(
        tmp_path / "agent.yml",
        **{"service.name": "VendorAgent", "install.dir": "D:\\Vendor\\Agent"},
    )
    options = options_from(HOST, {"sagefleet_agent_profile": str(tmp_path / "agent.yml")})
    assert (options.service_name, options.install_dir) == ("VendorAgent", "D:\\Vendor\\Agent")
    assert options.settings_path == "D:\\Vendor\\Agent\\settings.json"


def test_installer_arguments_are_the_profiles_switches_for_the_technology() -> None:
    profile = agent_profile.default()
    assert installer_arguments(profile, "inno", "C:\\s\\i.log") == [
        "/VERYSILENT",
        "/SUPPRESSMSGBOXES",
        "/NORESTART",
        "/LOG=C:\\s\\i.log",
    ]
    assert installer_arguments(profile, "msi", "C:\\s\\i.log") == []  # msiexec's: the snippet's


def test_a_technology_without_switches_is_refused_naming_the_profile_field() -> None:
    error = error_of(installer_arguments, agent_profile.default(), "unknown", "x.log")
    assert error.field is not None and "installer.silent_args" in error.field
    assert "unknown" in str(error)


def _package(*names: str) -> PackageInfo:
    return PackageInfo(
        path="Setup.zip",
        sha256="0" * 64,
        size=1,
        installers=tuple(
            # The technology is what the file says (installer_file): here, by its type.
            Installer(
                path=n,
                label="v11.0",
                major=11,
                minor=0,
                size=1,
                technology="msi" if n.endswith(".msi") else "inno",
            )
            for n in names
        ),
        has_settings=True,
    )


def test_an_msi_with_switches_from_the_inventory_is_refused_before_any_host() -> None:
    options = options_from(HOST, {"sagefleet_agent_installer_arguments": ["/VERYSILENT"]})
    error = error_of(check_installer_arguments, HOST, options, _package("Agent v11.0.msi"))
    assert (error.host, error.field) == (HOST, "sagefleet_agent_installer_arguments")
    check_installer_arguments(HOST, options, _package("Agent v11.0.exe"))  # an .exe takes them

"""Deploy options read from host variables: the transfer encoding and the staging root,
refused on the bastion with the host, the variable, the value and what is allowed."""

from __future__ import annotations

from typing import Any

import pytest

from sagefleet import transfer
from sagefleet.deploy import check_inputs, options_from
from sagefleet.errors import InputError

HOST = "sage01"


def test_transfer_encoding_defaults_to_binary() -> None:
    assert options_from(HOST, {}).transfer_encoding == "binary"
    assert check_inputs(HOST, {}).transfer_encoding == transfer.DEFAULT_ENCODING


@pytest.mark.parametrize("value", ["binary", "base64"])
def test_transfer_encoding_takes_binary_or_base64(value: str) -> None:
    variables = {"sagefleet_agent_transfer_encoding": value}
    assert options_from(HOST, variables).transfer_encoding == value


@pytest.mark.parametrize("value", ["gzip", "Base64", "BINARY", "", 64, True, ["base64"]])
def test_a_bad_transfer_encoding_names_host_field_value_and_the_allowed_values(
    value: Any,
) -> None:
    with pytest.raises(InputError) as caught:
        check_inputs(HOST, {"sagefleet_agent_transfer_encoding": value})
    error = caught.value
    assert (error.host, error.field) == (HOST, "sagefleet_agent_transfer_encoding")
    assert error.value == repr(value)
    text = str(error)
    assert text.startswith(f"host {HOST}, field sagefleet_agent_transfer_encoding: ")
    assert "'binary'" in text and "'base64'" in text and repr(value) in text


def test_transfer_streams_default_to_four_and_take_one_to_sixteen() -> None:
    assert options_from(HOST, {}).transfer_streams == transfer.DEFAULT_STREAMS == 4
    for value in (1, 16):
        variables = {"sagefleet_agent_transfer_streams": value}
        assert check_inputs(HOST, variables).transfer_streams == value


@pytest.mark.parametrize("value", [0, 17, "four", "17", True, 2.5])
def test_bad_transfer_streams_name_host_field_value_and_the_range(value: Any) -> None:
    with pytest.raises(InputError) as caught:
        check_inputs(HOST, {"sagefleet_agent_transfer_streams": value})
    error = caught.value
    assert (error.host, error.field, error.value) == (
        HOST,
        "sagefleet_agent_transfer_streams",
        repr(value),
    )
    assert "must be a number of connections from 1 to 16" in str(error)


def test_the_longest_staging_dir_is_accepted_and_one_more_character_refused() -> None:
    root = "C:\\" + "s" * (transfer.MAX_STAGING_DIR_CHARS - 3)
    assert check_inputs(HOST, {"sagefleet_agent_staging_dir": root}).staging_dir == root
    with pytest.raises(InputError, match="characters long") as caught:
        check_inputs(HOST, {"sagefleet_agent_staging_dir": root + "s"})
    assert (caught.value.host, caught.value.field) == (HOST, "sagefleet_agent_staging_dir")


@pytest.mark.parametrize(
    "root", [r"\\fs01\share\staging", r"C:\ProgramData\..\staging", r"staging\rel"]
)
def test_a_staging_dir_off_the_local_drives_is_refused_before_any_host(root: str) -> None:
    with pytest.raises(InputError, match="local drive") as caught:
        check_inputs(HOST, {"sagefleet_agent_staging_dir": root})
    assert (caught.value.host, caught.value.field) == (HOST, "sagefleet_agent_staging_dir")
    # The folder as given, not a file path made from it.
    assert caught.value.value == root and "settings.json" not in str(caught.value)


# Every number the deploy reads, as `-e name=value` gives it: text.
GIVEN_AS_TEXT = {
    "sagefleet_agent_installer_timeout_s": ("600", 600),
    "sagefleet_agent_stop_timeout_s": ("30", 30),
    "sagefleet_agent_start_timeout_s": ("30", 30),
    "sagefleet_agent_transfer_streams": ("2", 2),
    "sagefleet_deploy_lock_wait_s": ("0", 0),
    "sagefleet_deploy_lock_ttl_s": ("600", 600),
    "sagefleet_agent_staging_keep": ("3", 3),
    "sagefleet_settings_keep_backups": ("3", 3),
    "sagefleet_agent_connect_window_s": ("5", 5),
    "sagefleet_deploy_max_fail_percentage": ("12.5", 12.5),
    "sagefleet_agent_pause_s": ("0", 0),
}


def test_every_number_of_a_deploy_is_read_from_extra_vars_text() -> None:
    from sagefleet.agent import connection
    from sagefleet.variables import value

    variables = {name: text for name, (text, _) in GIVEN_AS_TEXT.items()}
    options = check_inputs(HOST, variables)
    assert (options.installer_timeout_s, options.stop_timeout_s, options.transfer_streams) == (
        600,
        30,
        2,
    )
    assert connection.options_from(HOST, variables).window_s == 5
    for name, (_, number) in GIVEN_AS_TEXT.items():
        assert value(HOST, variables, name) == number, name


def test_the_health_gate_window_is_checked_with_the_other_inputs() -> None:
    # Read per host in the waves: a bad one failed every host of the first wave.
    with pytest.raises(InputError) as caught:
        check_inputs(HOST, {"sagefleet_agent_connect_window_s": "five"})
    assert (caught.value.field, caught.value.value) == (
        "sagefleet_agent_connect_window_s",
        "'five'",
    )


@pytest.mark.parametrize(
    "name", ["sagefleet_agent_staging_keep", "sagefleet_settings_keep_backups"]
)
def test_kept_counts_take_whole_numbers_as_yaml_or_extra_vars_give_them(name: str) -> None:
    """`-e name=3` gives text: read as the number. Anything else is refused naming host,
    field and value (it was a traceback)."""
    attribute = "keep_staged" if name.endswith("staging_keep") else "keep_settings_backups"
    assert getattr(options_from("sage01", {name: 3}), attribute) == 3
    assert getattr(options_from("sage01", {name: " 3 "}), attribute) == 3
    for bad in ("three", True, 2.5, -1, "-1"):
        with pytest.raises(InputError) as caught:
            options_from("sage01", {name: bad})
        assert caught.value.host == "sage01" and caught.value.field == name
        assert repr(bad) in str(caught.value) or str(bad) in str(caught.value)

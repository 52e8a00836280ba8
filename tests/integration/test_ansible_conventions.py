"""Ansible conventions: argument specs, generated role docs, module docs, fleet progress."""

from __future__ import annotations

import importlib.util
import inspect
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from sagefleet.ansible import roledocs
from sagefleet.ansible.action import SagefleetAction
from sagefleet.sim.fleet import generate_specs
from tests.support.fleets import ROOT, FleetFactory, next_first_address

BIN = Path(sys.executable).parent
ROLES = roledocs.roles(ROOT)
MODULES = sorted(
    p.stem
    for p in (ROOT / "library").glob("sagefleet_*.py")
    if "DOCUMENTATION" in p.read_text(encoding="utf-8")
)


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_every_role_has_argument_specs_covering_its_defaults(role: Path) -> None:
    specs = roledocs.load_spec(role)
    options = set(specs["main"].get("options") or {})
    defaults_file = role / "defaults" / "main.yml"
    defaults = yaml.safe_load(defaults_file.read_text()) if defaults_file.exists() else {}
    assert set(defaults or {}) <= options, sorted(set(defaults or {}) - options)
    assert all(name.startswith(("sagefleet_", f"{role.name}_")) for name in options)


def test_role_readmes_match_their_argument_specs() -> None:
    stale = roledocs.sync_roles(ROOT, check=True)
    assert not stale, "run `python -m sagefleet.ansible.roledocs roles`: " + ", ".join(
        d.role for d in stale
    )


def test_role_readme_drift_is_detected(tmp_path: Path) -> None:
    role = tmp_path / "roles" / "sagefleet_example"
    (role / "meta").mkdir(parents=True)
    (role / "meta" / "argument_specs.yml").write_text(
        "argument_specs:\n  main:\n    short_description: Example.\n    options:\n"
        "      sagefleet_example_flag:\n        type: bool\n        default: true\n"
        "        description: A flag.\n"
    )
    assert [d.role for d in roledocs.sync_roles(tmp_path)] == ["sagefleet_example"]
    assert roledocs.sync_roles(tmp_path, check=True) == []
    readme = role / "README.md"
    readme.write_text(readme.read_text().replace("A flag.", "An old text."))
    assert [d.role for d in roledocs.sync_roles(tmp_path, check=True)] == ["sagefleet_example"]


def test_ansible_doc_renders_every_module_of_library() -> None:
    assert MODULES, "library/ holds the module documentation"
    process = subprocess.run(
        [str(BIN / "ansible-doc"), "--json", "-t", "module", *MODULES],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode == 0, process.stderr
    docs = json.loads(process.stdout)
    rendered = {name.rsplit(".", 1)[-1] for name in docs}
    assert rendered == set(MODULES), process.stderr
    for name, doc in docs.items():
        assert doc["doc"].get("short_description"), name
        assert "attributes" in doc["doc"], f"{name}: state check_mode/diff_mode support"


ACTION_PLUGINS = sorted(p.stem for p in (ROOT / "action_plugins").glob("sagefleet_*.py"))
# What an option's spec means when a key is left out (Ansible's defaults).
_SPEC_DEFAULTS: dict[str, Any] = {
    "type": "str",
    "required": False,
    "default": None,
    "choices": None,
    "elements": None,
    "no_log": False,
}


def _argument_spec(name: str) -> dict[str, Any]:
    """The ARGUMENT_SPEC an action plugin passes to validate_argument_spec() (the base
    of every plugin, SagefleetAction, passes its ARGUMENT_SPEC)."""
    path = ROOT / "action_plugins" / f"{name}.py"
    base = inspect.getsource(SagefleetAction.run)
    assert "validate_argument_spec(argument_spec=self.ARGUMENT_SPEC)" in base
    loader = importlib.util.spec_from_file_location(f"sagefleet_action_{name}", path)
    assert loader is not None and loader.loader is not None
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    assert issubclass(module.ActionModule, SagefleetAction), (
        f"{path.name}: arguments are validated against ARGUMENT_SPEC, the one source"
    )
    spec: dict[str, Any] = module.ActionModule.ARGUMENT_SPEC
    return spec


def _documented_options(name: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {}
    exec((ROOT / "library" / f"{name}.py").read_text(encoding="utf-8"), namespace)
    return dict(yaml.safe_load(namespace["DOCUMENTATION"]).get("options") or {})


def _normalised(option: dict[str, Any]) -> dict[str, Any]:
    return {key: option.get(key, default) for key, default in _SPEC_DEFAULTS.items()}


def test_every_action_plugin_has_its_documentation_stub() -> None:
    assert ACTION_PLUGINS == MODULES


def test_ansible_doc_with_the_library_folder_renders_every_module(tmp_path: Path) -> None:
    """`ansible-doc -M library NAME` from anywhere: no ansible.cfg needed."""
    config = tmp_path / "ansible.cfg"
    config.write_text("[defaults]\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    process = subprocess.run(
        [
            str(BIN / "ansible-doc"),
            "-M",
            str(ROOT / "library"),
            "--json",
            "-t",
            "module",
            *ACTION_PLUGINS,
        ],
        cwd=tmp_path,
        env={**env, "ANSIBLE_CONFIG": str(config)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode == 0, process.stderr
    assert {name.rsplit(".", 1)[-1] for name in json.loads(process.stdout)} == set(ACTION_PLUGINS)


@pytest.mark.parametrize("name", ACTION_PLUGINS)
def test_module_documentation_matches_the_plugin_argument_spec(name: str) -> None:
    spec = _argument_spec(name)
    documented = _documented_options(name)
    assert sorted(documented) == sorted(spec), f"{name}: options documented vs validated"
    for option, rules in spec.items():
        assert _normalised(documented[option]) == _normalised(rules), f"{name}: {option}"


# What each tag selects (docs/operations.md, "Tags"); "always" marks the inventory
# validation, which runs whatever the selection, before any host is touched.
PLAYBOOK_TAGS = {
    "site.yml": {"host_info", "report"},
    "preflight.yml": {"preflight", "validate", "checks", "report"},
    "deploy.yml": {"deploy", "validate", "waves", "verify", "report"},
    "settings.yml": {"settings", "validate", "report"},
    "diagnose.yml": {"diagnose", "validate", "bundle"},
    "discover.yml": {"discover"},
    "verify.yml": {"verify", "validate", "report"},
}


def _ansible_playbook(*args: str) -> str:
    process = subprocess.run(
        [str(BIN / "ansible-playbook"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1"},
    )
    assert process.returncode == 0, process.stdout + process.stderr
    return process.stdout


def _tasks(playbook: str, *tags: str) -> list[tuple[str, list[str]]]:
    """[(name, tags)] of the tasks ``--tags`` selects, those of always sections too
    (``ansible-playbook --list-tasks`` leaves them out): tests/support/list_tasks.py."""
    process = subprocess.run(
        [sys.executable, "tests/support/list_tasks.py", f"playbooks/{playbook}", ",".join(tags)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode == 0, process.stdout + process.stderr
    return [(name, found) for name, found in json.loads(process.stdout)]


def test_the_task_listing_includes_always_sections() -> None:
    """The listing the tag tests read sees the report in the always section of
    preflight's checks, which Ansible's own --list-tasks leaves out."""
    names = [name for name, _ in _tasks("preflight.yml")]
    assert "sagefleet_preflight : Write the fleet report" in names
    assert "Write the fleet report" not in _ansible_playbook(
        "--list-tasks", "playbooks/preflight.yml"
    )


def test_every_playbook_is_covered_by_the_tag_table() -> None:
    assert sorted(p.name for p in (ROOT / "playbooks").glob("*.yml")) == sorted(PLAYBOOK_TAGS)


@pytest.mark.parametrize("playbook", sorted(PLAYBOOK_TAGS))
def test_playbooks_carry_meaningful_tags(playbook: str) -> None:
    listed = _tasks(playbook)
    tags: set[str] = set()
    for _, found in listed:
        tags |= set(found)
    assert tags - {"always"} == PLAYBOOK_TAGS[playbook], listed


def test_deploy_with_tag_validate_checks_inputs_and_touches_no_host() -> None:
    listed = _ansible_playbook("--list-tasks", "--tags", "validate", "playbooks/deploy.yml")
    tasks = [
        line.split("\t")[0].strip()
        for line in listed.splitlines()
        if "TAGS: [" in line and not line.lstrip().startswith("play #")
    ]
    # The report and each host's outcome are tagged always too; they do nothing when
    # only the validation ran (test_deploy.py runs it: no report, no host touched).
    assert tasks == [
        "Validate the inventory of every host",
        "Check that the agent package is given",
        "Inspect the agent package",
        "Open this run's report folder",
        "Write the fleet report",
        "End the hosts whose outcome fails none",
        "End each host with its outcome",
    ]


@pytest.mark.parametrize(
    ("playbook", "step"),
    [
        ("deploy.yml", "waves"),
        ("deploy.yml", "deploy"),
        ("verify.yml", "verify"),
    ],
)
def test_a_step_selected_by_tag_still_ends_each_host_with_its_outcome(
    playbook: str, step: str
) -> None:
    listed = _tasks(playbook, step)
    ends = [tags for name, tags in listed if "End each host with its" in name]
    assert len(ends) == 1 and "always" in ends[0], listed


def test_preflight_checks_end_each_host_and_the_report_follows_any_selection() -> None:
    """preflight.yml's checks task ends each host itself; the report, in the always
    section after it, runs whatever --tags selects (test_preflight.py runs them)."""
    listed = dict(_tasks("preflight.yml", "checks"))
    checks = "sagefleet_preflight : Gather facts, run the checks and end each host with its status"
    report = "sagefleet_preflight : Write the fleet report"
    assert "checks" in listed[checks]
    assert "always" in listed[report] and "report" in listed[report]
    assert list(listed).index(report) > list(listed).index(checks)


def test_skipping_a_step_keeps_the_inventory_validation() -> None:
    listed = _ansible_playbook("--list-tasks", "--tags", "report", "playbooks/preflight.yml")
    assert "Validate the inventory of every host before contacting any" in listed
    assert "Gather facts and run the checks" not in listed


def test_progress_callback_stays_readable_on_a_50_host_fleet(
    tmp_path: Path, make_fleet: FleetFactory
) -> None:
    specs = generate_specs(
        50, profiles=["healthy-onprem"], first_address=next_first_address(), port=0, prefix="pg"
    )
    fleet = make_fleet(specs=specs)
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump(fleet.inventory(), sort_keys=False))
    fleet.host(specs[7].name).snippet_failures["host_info"] = "simulated failure"
    process = subprocess.run(
        [
            str(BIN / "ansible-playbook"),
            "-i",
            str(inventory),
            "playbooks/site.yml",
            "-f",
            "25",
            "-e",
            f"sagefleet_report_dir={tmp_path / 'reports'}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_DISPLAY_OK_HOSTS": "false"},
    )
    lines = [line for line in process.stdout.splitlines() if line.startswith("[sagefleet]")]
    task = [line for line in lines if "Read host identity and clock:" in line]
    assert task, process.stdout[-3000:]
    counts = [int(re.search(r": (\d+)/50 hosts done", line).group(1)) for line in task]  # type: ignore[union-attr]
    assert counts == sorted(counts) and counts[-1] == 50
    assert len(task) <= 11, task
    assert "1 failed" in task[-1]
    # The summary play runs on the fleet's hosts (once, on the bastion): no localhost host.
    assert lines[-2] == "[sagefleet] run complete: 50 hosts, 1 failed, 0 unreachable"
    (latest,) = (tmp_path / "reports").glob("*/host_info/latest")
    assert lines[-1] == f"[sagefleet] report of this run: {latest.resolve()}"


def progress_callback() -> Any:
    path = ROOT / "callback_plugins" / "sagefleet_progress.py"
    spec = importlib.util.spec_from_file_location("sagefleet_progress_words", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_progress_says_the_hosts_a_task_was_skipped_for_apart_from_those_done() -> None:
    """A task run on two hosts of four and skipped for the others: 2/4 hosts done, 2
    skipped (it said 4/4 done); a task skipped so far for every host prints no line."""
    callback = progress_callback().CallbackModule()
    shown: list[str] = []
    callback._display = SimpleNamespace(display=shown.append)
    callback.set_options()
    callback._play_name, callback._batch_total = "Restart", 4

    def task(name: str) -> Any:
        return SimpleNamespace(
            get_name=lambda: name, action="ansible.builtin.command", run_once=False, args={}
        )

    def result(host: str, of: Any) -> Any:
        return SimpleNamespace(
            _host=SimpleNamespace(get_name=lambda: host), _task=of, _result={}
        )

    step = task("Restart the agent")
    callback.v2_playbook_on_task_start(step, False)
    callback.v2_runner_on_skipped(result("a", step))
    callback.v2_runner_on_skipped(result("b", step))
    assert shown == []
    callback.v2_runner_on_ok(result("c", step))
    callback.v2_runner_on_ok(result("d", step))
    assert shown[-1].startswith(
        "[sagefleet] Restart | Restart the agent: 2/4 hosts done, 2 skipped, 0 failed,"
    )


def test_a_refused_input_is_named_with_the_host_play_recap_counts_it_on() -> None:
    line = progress_callback()._refusal_line
    assert line("sage01", ["sage01"], 2).endswith("PLAY RECAP counts it on the first of them")
    many = line("sage01", [f"sage{n:02}" for n in range(2, 14)], 20)
    assert many.startswith("[sagefleet] input refused for 12 of 20 host(s) checked: sage02, ")
    assert "sage11 and 2 more (the errors above" in many and "sage12" not in many
    assert many.endswith("PLAY RECAP counts it on sage01, the host the check ran once for")


def test_the_run_summary_counts_the_fleets_hosts_and_names_the_bastion_apart() -> None:
    words = progress_callback()._hosts_ran
    assert words(["sage01"]) == "1 host"
    assert words(["sage01", "sage02"]) == "2 hosts"
    assert words(["localhost", "sage01", "sage02"]) == "2 hosts and localhost"
    assert words(["localhost"]) == "localhost"  # a play on the bastion alone
    assert words([]) == "0 hosts"


def test_check_reference_matches_the_catalog() -> None:
    current, wanted = roledocs.checks_doc(ROOT / "docs" / "checks.md")
    assert current == wanted, "run `python -m sagefleet.ansible.roledocs checks`"


def test_variables_reference_matches_the_declaration() -> None:
    """docs/variables.md lists every declared variable, those of no role too."""
    from sagefleet.variables import declared

    current, wanted = roledocs.variables_doc(ROOT / "docs" / "variables.md")
    assert current == wanted, "run `python -m sagefleet.ansible.roledocs variables`"
    listed = set(re.findall(r"^\| `(sagefleet_\w+)` \|", current, re.M))
    assert listed == {n for n, v in declared().items() if v.replaced_by is None}
    assert {"sagefleet_ssh_jump", "sagefleet_dns_servers", "sagefleet_agent_package_url"} <= listed


def test_the_project_reads_a_yaml_inventory_once_and_plugin_configurations_still(
    tmp_path: Path,
) -> None:
    """ansible.cfg puts the yaml inventory plugin before auto, so that auto does not parse a
    YAML inventory only to hand yaml a copy; a plugin configuration is still read (yaml
    refuses it, auto reads it), with nothing on stderr."""
    config = subprocess.run(
        [str(BIN / "ansible-config"), "dump", "--only-changed", "--format", "json"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
    )
    settings = {s["name"]: s["value"] for s in json.loads(config.stdout) if "name" in s}
    enabled = settings["INVENTORY_ENABLED"]
    assert enabled.index("yaml") < enabled.index("auto"), enabled
    generator = tmp_path / "generated.yml"
    generator.write_text(
        "plugin: ansible.builtin.generator\n"
        "hosts:\n  name: \"sage-{{ site }}\"\n"
        "layers:\n  site: [paris, lyon]\n"
    )
    plain = tmp_path / "hosts.yml"
    plain.write_text("all:\n  hosts:\n    sage-nantes:\n      ansible_host: 127.0.0.1\n")
    for source, expected in ((generator, {"sage-paris", "sage-lyon"}), (plain, {"sage-nantes"})):
        listed = subprocess.run(
            [str(BIN / "ansible-inventory"), "-i", str(source), "--list"],
            cwd=ROOT, capture_output=True, text=True, timeout=60,
        )
        assert listed.returncode == 0 and listed.stderr == "", listed.stderr
        groups = json.loads(listed.stdout)
        groups.pop("_meta")
        assert {h for group in groups.values() for h in group.get("hosts", [])} == expected

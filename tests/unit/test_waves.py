"""The wave verdict (sagefleet.deploy.waves): when a rollout stops, and who failed."""

from __future__ import annotations

import contextlib
import json
from datetime import datetime
from pathlib import Path

import pytest

from sagefleet.deploy.waves import check_rollout, judge_wave, outcome_of, wave_verdict
from sagefleet.errors import InputError
from sagefleet.variables import DeprecatedVariable, is_retired


def test_a_failed_canary_stops_the_rollout() -> None:
    verdict = wave_verdict({"canary": "rolled-back"}, 20)
    assert (verdict.stop, verdict.verdict, verdict.failed) == (True, "stop", ("canary",))
    assert verdict.message == (
        "wave of 1: 1 failed (100%, limit 20%): canary; rollout stopped, no new wave starts"
    )


def test_a_healthy_canary_lets_the_next_wave_start() -> None:
    verdict = wave_verdict({"canary": "installed"}, 20)
    assert (verdict.stop, verdict.verdict, verdict.failed) == (False, "continue", ())
    assert verdict.message == "wave of 1: 0 failed (0%, limit 20%)"


@pytest.mark.parametrize(
    ("failed", "hosts", "limit", "stop"),
    [
        (1, 5, 20, False),  # exactly the limit: the wave may go on
        (2, 5, 20, True),  # above it: stop
        (1, 4, 25, False),
        (1, 4, 24.9, True),
        (0, 3, 0, False),  # a limit of 0 tolerates no failure, and none is none
        (1, 3, 0, True),
        (3, 3, 100, False),  # 100 never stops on failures
    ],
)
def test_max_fail_percentage_is_a_limit_not_reached_by_equality(
    failed: int, hosts: int, limit: float, stop: bool
) -> None:
    outcomes = {f"h{i}": ("failed" if i < failed else "upgraded") for i in range(hosts)}
    verdict = wave_verdict(outcomes, limit)
    assert verdict.stop is stop
    assert len(verdict.failed) == failed


def test_unreachable_blocked_and_not_run_hosts_do_not_count_as_failures() -> None:
    outcomes = {
        "a": "unreachable",
        "b": "blocked",
        "c": "not-run",
        "d": "installed",
        "e": "failed",
    }
    verdict = wave_verdict(outcomes, 20)
    assert verdict.failed == ("e",)
    # ... but they stay in the wave: one failure out of five is 20%, not over the limit.
    assert not verdict.stop and "wave of 5: 1 failed (20%" in verdict.message


def test_a_host_without_a_deploy_result_failed() -> None:
    assert outcome_of(None) == "failed"
    assert outcome_of({"skipped": True}) == "failed"
    assert outcome_of({"failed": True, "msg": "crash"}) == "failed"
    assert outcome_of({"outcome": "unreachable"}) == "unreachable"
    verdict = judge_wave({"a": {"outcome": "installed"}, "b": None}, 50)
    assert verdict.outcomes == {"a": "installed", "b": "failed"}
    assert verdict.failed == ("b",) and not verdict.stop


def _suites_report(folder: Path, failing: str, passing: str) -> dict[str, str]:
    """The suites' report of one run, started now: ``failing`` hosts fail SF502."""
    hosts = [
        {"host": h, "findings": [{"check_id": "SF502", "status": status, "message": status}]}
        for hosts, status in ((failing, "fail"), (passing, "pass"))
        for h in hosts
    ]
    started = datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f")
    (folder / "report.json").write_text(json.dumps({"hosts": hosts}), encoding="utf-8")
    return {"rc": 1, "start": started}


def test_a_failed_verification_stops_even_below_the_limit(tmp_path: Path) -> None:
    run = _suites_report(tmp_path, "a", "bcdefghij")
    results = {h: {"outcome": "upgraded"} for h in "abcdefghij"}
    verdict = judge_wave(results, 20, run=run, report_folder=tmp_path)
    assert verdict.outcomes["a"] == "verify-failed" and verdict.failed == ("a",)
    assert verdict.stop  # 10% failed, under the limit: the verification stops it
    assert verdict.message.endswith("; verification failed: rollout stopped, no new wave starts")
    assert verdict.verify["b"]["status"] == "verified"
    assert verdict.verify["a"]["reason"] == "verification failed: SF502 fail"


def test_a_host_the_suites_did_not_report_failed_its_verification(tmp_path: Path) -> None:
    run = _suites_report(tmp_path, "", "a")
    results = {"a": {"outcome": "installed"}, "b": {"outcome": "upgraded"}}
    verdict = judge_wave(results, 100, run=run, report_folder=tmp_path)
    assert verdict.verify["b"]["status"] == "verify-failed"
    assert verdict.failed == ("b",) and verdict.stop


def test_suites_that_failed_where_no_host_check_says_why_prove_no_host(tmp_path: Path) -> None:
    """pytest's exit code counts: every host's checks passed, yet the suites failed (a
    test without a check id, an error of pytest, nothing collected), as verify.yml."""
    run = _suites_report(tmp_path, "", "ab")
    results = {"a": {"outcome": "installed"}, "b": {"outcome": "upgraded"}}
    for rc in (1, 3, 5):
        verdict = judge_wave(results, 100, run={**run, "rc": rc}, report_folder=tmp_path)
        assert {h: v["status"] for h, v in verdict.verify.items()} == {
            "a": "verify-failed",
            "b": "verify-failed",
        }
        assert verdict.verify["a"]["reason"].startswith(
            f"the verification suites failed (pytest rc {rc}) although every host's checks passed"
        )
        assert verdict.verify["a"]["findings"][0]["status"] == "pass"  # kept as they were
        assert verdict.stop
    verdict = judge_wave(results, 100, run={**run, "rc": 0}, report_folder=tmp_path)
    assert {v["status"] for v in verdict.verify.values()} == {"verified"} and not verdict.stop


def test_a_skipped_verification_judges_the_deploy_alone(tmp_path: Path) -> None:
    verdict = judge_wave(
        {"a": {"outcome": "installed"}}, 20, run={"skipped": True}, report_folder=tmp_path
    )
    assert verdict.verify == {} and not verdict.stop


def test_the_gate_result_names_the_verdict_and_the_failed_hosts() -> None:
    result = wave_verdict({"a": "failed", "b": "installed"}, 20).to_result()
    assert result["verdict"] == "stop" and result["stop"] is True
    assert result["failed_hosts"] == ["a"]
    assert result["outcomes"] == {"a": "failed", "b": "installed"}
    assert "failed" not in result  # Ansible would read it as the task's failure


def test_a_host_the_verification_could_not_reach_is_unreachable_and_stops_the_rollout(
    tmp_path: Path,
) -> None:
    """Deployed, then not reached by the wave's suites: nothing proved it, so the rollout
    stops; the host's word is unreachable (its checks were not run), not verify-failed."""
    run = _suites_report(tmp_path, "", "a")
    document = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    document["hosts"].append(
        {"host": "b", "reachable": False, "error": "connection refused", "findings": []}
    )
    (tmp_path / "report.json").write_text(json.dumps(document), encoding="utf-8")
    results = {"a": {"outcome": "installed"}, "b": {"outcome": "upgraded"}}
    verdict = judge_wave(results, 100, run=run, report_folder=tmp_path)
    assert verdict.verify["b"]["status"] == "unreachable"
    assert verdict.verify["b"]["reason"] == (
        "the wave's verification could not reach the host after the deploy: connection refused"
    )
    assert verdict.outcomes == {"a": "installed", "b": "unreachable"}
    assert verdict.stop and verdict.failed == ()
    assert verdict.message.endswith(
        "; the verification could not reach b: rollout stopped, no new wave starts"
    )


@pytest.mark.parametrize(
    "waves", [[1, "10%", "25%", "100%"], [5], ["1", "50%"], [2, " 100% "]]
)
def test_waves_ansible_reads_as_at_least_one_host_each_pass(waves: list[object]) -> None:
    check_rollout("sage01", {"sagefleet_deploy_waves": waves})


@pytest.mark.parametrize(
    ("waves", "why"),
    [
        ("[1, '10%']", "must be a list"),  # -e name=value gives a string
        ([], "must be a list"),  # Ansible: every host at once
        ([1, 0], "each wave is"),  # Ansible: every remaining host at once
        ([-1], "each wave is"),
        (["10.5%"], "each wave is"),  # Ansible stops: "this is probably a bug"
        (["0%"], "each wave is"),
        (["150%"], "each wave is"),
        (["abc"], "each wave is"),
        ([True], "each wave is"),
        ([1.5], "each wave is"),
    ],
)
def test_waves_ansible_would_misread_are_refused_before_any_host(waves: object, why: str) -> None:
    with pytest.raises(InputError) as caught:
        check_rollout("sage01", {"sagefleet_deploy_waves": waves})
    error = caught.value
    assert (error.host, error.field) == ("sage01", "sagefleet_deploy_waves")
    assert why in str(error) and "Fix: " in str(error)


@pytest.mark.parametrize(
    ("name", "given", "accepted"),
    [
        ("sagefleet_deploy_max_fail_percentage", 30, True),
        ("sagefleet_deploy_max_fail_percentage", "30", True),  # -e name=value
        ("sagefleet_deploy_max_fail_percentage", 0, True),
        ("sagefleet_deploy_max_fail_percentage", 150, False),
        ("sagefleet_deploy_max_fail_percentage", "150", False),
        ("sagefleet_agent_max_fail_percentage", -1, False),
        ("sagefleet_agent_max_fail_percentage", "many", False),
        ("sagefleet_agent_pause_s", "5", True),
        ("sagefleet_agent_pause_s", -5, False),
        ("sagefleet_agent_pause_s", "-5", False),
    ],
)
def test_the_shares_of_failures_and_the_pause_are_checked(
    name: str, given: object, accepted: bool
) -> None:
    if accepted:
        check_rollout("sage01", {name: given})
        return
    # A retired name is still read, and checked, with its deprecation warning.
    retired = pytest.warns(DeprecatedVariable) if is_retired(name) else contextlib.nullcontext()
    with pytest.raises(InputError) as caught, retired:
        check_rollout("sage01", {name: given})
    assert (caught.value.host, caught.value.field) == ("sage01", name)
    assert f"(value: {given!r})" in str(caught.value)


def test_the_wave_suites_asked_for_are_a_folder_on_the_bastion(tmp_path: Path) -> None:
    """A suites folder that does not exist would fail each host of the first wave after
    its deploy: refused before, unless the waves are not verified."""
    missing = str(tmp_path / "nowhere")
    for verify in (True, "yes", "true"):
        with pytest.raises(InputError) as caught:
            check_rollout(
                "sage01",
                {"sagefleet_agent_verify_waves": verify, "sagefleet_agent_verify_suites": missing},
            )
        error = caught.value
        assert (error.host, error.field) == ("sage01", "sagefleet_agent_verify_suites")
        assert "no such folder on the bastion" in str(error)
    for fine in (
        {"sagefleet_agent_verify_waves": False, "sagefleet_agent_verify_suites": missing},
        {"sagefleet_agent_verify_waves": True, "sagefleet_agent_verify_suites": str(tmp_path)},
        {"sagefleet_agent_verify_waves": True},  # the project's tests/infra
        {"sagefleet_agent_verify_waves": True, "sagefleet_agent_verify_suites": "{{ x }}/t"},
    ):
        check_rollout("sage01", fine)

"""A run's report folder named explicitly: what is this run's and what an earlier run's,
however close in time the two runs came (sagefleet.report.runs)."""

from __future__ import annotations

from pathlib import Path

from sagefleet.report.runs import RunFolder, clear_stale, discard, open_run, written


def test_an_earlier_runs_report_written_just_before_is_never_this_runs(tmp_path: Path) -> None:
    """An earlier run wrote its report a moment before this run opened the folder (within
    the second the time alone could not tell apart): this run, stopped before its report,
    wrote none and removes none of it; once it writes its own, that one is its own, and
    the earlier run's other files go."""
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "report.json").write_text('{"run": "earlier"}')
    (folder / "report.html").write_text("<p>earlier</p>")
    (folder / "notes.txt").write_text("the operator's own")
    run = open_run("deploy", explicit=folder)
    assert RunFolder.from_dict(run.to_dict()) == run
    assert not written(run)
    assert discard(run) is False
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt", "report.html", "report.json"]
    (folder / "report.json").write_text('{"run": "this one"}')
    assert written(run)
    assert [p.name for p in clear_stale(run)] == ["report.html"]
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt", "report.json"]


def test_a_run_folder_of_an_older_form_still_tells_by_time(tmp_path: Path) -> None:
    """A folder's description without what the run found there (an older form): an entry
    written from a second before the run opened the folder on is the run's."""
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "report.json").write_text("{}")
    run = RunFolder.from_dict({"path": str(folder), "job_dir": None, "started": 0.0})
    assert run.earlier is None and written(run)

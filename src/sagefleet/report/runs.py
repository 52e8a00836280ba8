"""Where a run's reports go: one folder per run, never another run's files.

By default a job's reports go to ``reports/<inventory name>/<job>/<UTC time>/``
in the project, and ``reports/<inventory name>/<job>/latest`` (a relative
symbolic link) points at the newest run that wrote a report. A run that stops
before its report (interrupted too: the progress callback) leaves ``latest`` where
it was, removes the folder it opened (``discard``), and says so. A folder named
explicitly (``sagefleet_preflight_report_dir``...) is used as is: no time
folder, no ``latest``; a run only shows a report it wrote there itself, and
when it writes its report it removes what an earlier run of sagefleet left
there (its report files, its waves' ``verify-<host>`` folders), never another
file.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sagefleet.errors import InputError
from sagefleet.report import FILE_NAMES

LATEST = "latest"
#: The file that makes a run folder a fleet report's (the run wrote its report).
REPORT = "report.json"
#: The files sagefleet writes in a run's folder: the fleet report in each format, and the
#: verification suites' JUnit file (sagefleet.verify.runner).
OWN_FILES = frozenset((*FILE_NAMES.values(), "pytest.junit.xml"))
#: The folder of a deploy wave's verification, in the run's folder: verify-<its first host>
#: (sagefleet_agent_wave_report).
WAVE_FOLDER_PREFIX = "verify-"
STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
# Inventory file names that say nothing about the client: their folder names it.
_GENERIC = {"hosts", "inventory", "inventories", "main", "all"}


def inventory_name(sources: Sequence[str] | str | None) -> str:
    """A folder name for the inventory of a run: ``inventory/bijou`` → ``bijou``,
    ``inventory/demo/hosts.yml`` → ``demo``, ``clients/acme.yml`` → ``acme``.

    With several sources (``-i inventory/bijou -i .sagefleet/jump/hosts.yml``), the first.
    """
    if isinstance(sources, str):
        sources = [sources]
    first = next((str(s) for s in sources or () if str(s).strip()), "")
    if not first:
        return "default"
    path = Path(first.rstrip("/"))
    name = path.name
    if path.suffix.lower() in (".yml", ".yaml", ".ini", ".json", ".cfg", ".toml"):
        name = path.stem
    if name.lower() in _GENERIC and path.parent.name:
        name = path.parent.name
    return _UNSAFE.sub("_", name).strip("._") or "default"


@dataclass(frozen=True)
class RunFolder:
    """The folder a run writes its reports into.

    ``job_dir`` is the folder holding every run of the job and ``latest`` (None for a
    folder named explicitly); ``started`` is when the run opened it (epoch seconds).
    ``earlier``: sagefleet's own entries in a folder named explicitly as the run found
    them (each name and stamp, ``_stamp``): an entry still so is an earlier run's, however
    close in time the two runs came. Without it, an entry written from a second before
    ``started`` on is this run's.
    """

    path: Path
    job_dir: Path | None
    started: float
    earlier: tuple[tuple[str, str], ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "job_dir": str(self.job_dir) if self.job_dir else None,
            "started": self.started,
            "earlier": None if self.earlier is None else [list(e) for e in self.earlier],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunFolder:
        job_dir = data.get("job_dir")
        earlier = data.get("earlier")
        return cls(
            path=Path(str(data["path"])),
            job_dir=Path(str(job_dir)) if job_dir else None,
            started=float(data.get("started") or 0.0),
            earlier=None if earlier is None else tuple((str(n), str(s)) for n, s in earlier),
        )


def open_run(
    job: str,
    *,
    explicit: str | os.PathLike[str] | None = None,
    reports_root: str | os.PathLike[str] = "reports",
    inventory: str = "default",
    now: datetime | None = None,
) -> RunFolder:
    """Create this run's folder: ``<root>/<inventory>/<job>/<UTC time>`` (``-2``, ``-3``...
    when two runs start in the same second); ``explicit`` is used as is and made only by
    what writes into it, so a run that could not report leaves no empty folder there."""
    started = time.time()
    if explicit:
        found = tuple((e.name, _stamp(e)) for e in _own_entries(Path(explicit)))
        return RunFolder(path=Path(explicit), job_dir=None, started=started, earlier=found)
    job_dir = Path(reports_root) / inventory / job
    job_dir.mkdir(parents=True, exist_ok=True)
    stamp = (now or datetime.now(UTC)).strftime(STAMP_FORMAT)
    for index in range(1, 1000):
        path = job_dir / (stamp if index == 1 else f"{stamp}-{index}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return RunFolder(path=path, job_dir=job_dir, started=started)
    raise RuntimeError(f"cannot create a run folder in {job_dir}")  # pragma: no cover


def link_latest(run: RunFolder) -> Path | None:
    """Point ``<job_dir>/latest`` at this run (relative link, replaced atomically)."""
    if run.job_dir is None:
        return None
    link = run.job_dir / LATEST
    temporary = run.job_dir / f".{LATEST}.{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    os.symlink(os.path.relpath(run.path, run.job_dir), temporary)
    os.replace(temporary, link)
    return link


def _this_runs(run: RunFolder, entry: Path) -> bool:
    """Whether ``entry`` of the run's folder is this run's, not an earlier run's: not as
    the run found it (``earlier``), else written from a second before the run opened the
    folder on (a margin for file systems that keep whole seconds)."""
    if run.earlier is not None:
        return (entry.name, _stamp(entry)) not in run.earlier
    return _written_at(entry) >= run.started - 1.0


def written(run: RunFolder, name: str = REPORT) -> bool:
    """Whether this run wrote ``name`` in its folder (an older file does not count)."""
    target = run.path / name
    try:
        return _this_runs(run, target)
    except FileNotFoundError:
        return False


def discard(run: RunFolder) -> bool:
    """Remove the time folder of a run that wrote no report (what it holds, a JUnit file of
    no test, the verification of a wave before the run was stopped, is this run's own).
    A folder named explicitly stays, without what this run wrote there (its waves'
    verification): any report left there is an earlier run's. True: the folder went."""
    if run.job_dir is None or run.path.parent != run.job_dir:
        for entry in _own_entries(run.path):
            if _this_runs(run, entry):
                _remove(entry)
        return False
    shutil.rmtree(run.path, ignore_errors=True)
    return not run.path.exists()


def _own_entries(folder: Path) -> list[Path]:
    """What sagefleet wrote in ``folder``: its report files, and the wave folders
    (``verify-<host>``) that hold nothing but report files. Anything else is not its own,
    a wave folder with another file in it neither."""
    try:
        entries = list(folder.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []
    own = []
    for entry in entries:
        if entry.is_symlink():
            continue
        if entry.is_file() and entry.name in OWN_FILES:
            own.append(entry)
        elif entry.is_dir() and entry.name.startswith(WAVE_FOLDER_PREFIX):
            inside = list(entry.iterdir())
            if all(f.is_file() and not f.is_symlink() and f.name in OWN_FILES for f in inside):
                own.append(entry)
    return own


def _written_at(entry: Path) -> float:
    """When ``entry`` was last written: a wave folder, when its newest file was."""
    if entry.is_dir():
        return max([f.stat().st_mtime for f in entry.iterdir()] or [entry.stat().st_mtime])
    return entry.stat().st_mtime


def _stamp(entry: Path) -> str:
    """What tells a file apart from one written after it in its place: its inode, size
    and time of writing in nanoseconds; a wave folder's, those of each file in it."""
    files = sorted(entry.iterdir()) if entry.is_dir() else [entry]
    stats = [(f.name, f.stat()) for f in files]
    return ";".join(f"{n}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}" for n, st in stats)


def _remove(entry: Path) -> None:
    if entry.is_dir():
        shutil.rmtree(entry, ignore_errors=True)
    else:
        entry.unlink(missing_ok=True)


def clear_stale(run: RunFolder) -> list[Path]:
    """Remove what an earlier run of sagefleet left in this run's folder (its report files,
    its waves' verification folders), so that the report this run writes holds only its
    own results: a folder named explicitly is used by every run. Only sagefleet's own files
    go (_own_entries); returns them."""
    stale = [e for e in _own_entries(run.path) if not _this_runs(run, e)]
    for entry in stale:
        _remove(entry)
    return stale


#: The variables open_for_play reads (templated by the caller).
PLAY_VARS = (
    "sagefleet_report_dir",
    "sagefleet_inventory_name",
    "playbook_dir",
    "ansible_inventory_sources",
)


def open_for_play(job: str, explicit: str | None, play_vars: dict[str, Any]) -> RunFolder:
    """This run's folder from a play's variables: under ``sagefleet_report_dir`` (default
    ``reports/`` beside the playbooks' folder), the inventory named by
    ``sagefleet_inventory_name`` or by its first source."""
    root, inventory = _for_play(play_vars)
    return open_run(job, explicit=explicit or None, reports_root=root, inventory=inventory)


def job_folder(job: str, play_vars: dict[str, Any]) -> Path:
    """``<reports root>/<inventory>/<job>`` from a play's variables, as open_for_play names
    it, for a job whose files are not a run's (discover.yml's drafts)."""
    root, inventory = _for_play(play_vars)
    return root / inventory / job


#: What check_writable says to do, by default: the playbooks' report folders.
WRITABLE_FIX = (
    "give a folder the bastion's user can create and write, or leave it unset for the "
    "project's reports/"
)


def check_writable(folder: str | os.PathLike[str], field: str, fix: str = WRITABLE_FIX) -> None:
    """Raise InputError, naming ``field`` and saying ``fix``, when the bastion could not
    make and write ``folder``: checked before any host is contacted, where a run would
    otherwise find it out at its report, after every host. Nothing is left behind: the
    nearest folder that exists gets a probe folder, removed at once."""
    target = Path(os.path.normpath(os.path.expanduser(str(folder))))
    existing = target
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        if not existing.is_dir():
            raise NotADirectoryError(f"{existing} is not a folder")
        tempfile.TemporaryDirectory(prefix=".sagefleet-probe-", dir=existing).cleanup()
    except OSError as exc:
        raise InputError(
            f"the bastion cannot write there ({exc.strerror or exc})",
            field=field,
            value=str(target),
            fix=fix,
        ) from None


def check_for_play(
    job: str, explicit: str | None, explicit_var: str, play_vars: dict[str, Any]
) -> None:
    """``check_writable`` on the folder this run's reports will go to, as open_for_play
    names it: ``explicit`` (named by ``explicit_var``), else under the reports root."""
    if explicit:
        check_writable(explicit, explicit_var)
        return
    root, inventory = _for_play(play_vars)
    check_writable(root / inventory / job, "sagefleet_report_dir")


def _for_play(play_vars: dict[str, Any]) -> tuple[Path, str]:
    root = (
        play_vars.get("sagefleet_report_dir")
        or Path(str(play_vars.get("playbook_dir") or ".")) / ".." / "reports"
    )
    name = play_vars.get("sagefleet_inventory_name") or inventory_name(
        play_vars.get("ansible_inventory_sources")
    )
    return Path(os.path.normpath(str(root))), _UNSAFE.sub("_", str(name)).strip("._") or "default"

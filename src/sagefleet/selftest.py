"""`sagefleet selftest`: first contact with a new client's server, every read-only snippet once.

Each snippet of ``READ_ONLY`` runs once with harmless parameters from the inventory and
says OK or FAIL (its error text, how the script travelled); ``NOT_RUN`` says why the
others are left out. A redacted transcript goes into a zip: docs/operator-guide.md,
"First contact: the self-test".
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sagefleet import discover, transfer
from sagefleet.agent import connection
from sagefleet.agent import learn as agent_learn
from sagefleet.agent import profile as agent_profile
from sagefleet.diagnose import Bundle, known_secrets, mask, options_from, write_zip
from sagefleet.offline import offline_prepared
from sagefleet.remote import AuthenticationFailed, HostSession, HostUnreachable, RemoteError
from sagefleet.remote.command import parse_result, snippet_invocation
from sagefleet.remote.errors import SnippetFailed
from sagefleet.settings import redact
from sagefleet.variables import given_or_none
from sagefleet.variables.declarations import BACKUP_DIR

READ_ONLY: tuple[str, ...] = (
    "host_info",
    "facts",
    "query",
    "discover",
    "diagnose",
    "agent_learn",
    "agent_connections",
    "stage_status",
    "stage_cleanup",
    "agent_backup_prune",
)
"""The snippets selftest runs, in order: none changes the host with the parameters given."""

NOT_RUN: dict[str, str] = {
    "agent_install": "installs or upgrades the agent",
    "agent_restart": "restarts the agent service",
    "agent_rollback": "restores the agent folder",
    "deploy_lock": "creates or removes the deploy lock file",
    "failed_install": "writes or removes the failed-install record",
    "settings_write": "writes settings.json",
    "stage_push": "writes the staged package",
    "stage_pull": "downloads the staged package",
    "stage_extract": "expands the staged package",
}
"""The snippets selftest never runs, and why."""

# Members of a document whose text is a file's content (base64 or not): never kept.
_BLOBS = frozenset({"content", "previous", "text", "log_tail"})
_PROBE_UNUSED_SHA = "0" * 64


@dataclass
class SnippetRun:
    """One snippet run: how it travelled, how it ended, what it said (redacted)."""

    snippet: str
    params: dict[str, Any]
    command_line_length: int
    stdin_bytes: int
    ok: bool = False
    rc: int | None = None
    duration_s: float = 0.0
    error: str | None = None
    output: Any = None

    @property
    def transport(self) -> str:
        return "stdin" if self.stdin_bytes else "command line"


@dataclass
class SelftestResult:
    host: str
    started_at: str
    runs: list[SnippetRun] = field(default_factory=list)
    unreachable: str | None = None

    @property
    def ok(self) -> bool:
        return self.unreachable is None and all(r.ok for r in self.runs)

    @property
    def status(self) -> str:
        if self.unreachable is not None:
            return "unreachable"
        return "ok" if self.ok else "failed"


def plan(host: str, variables: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Each read-only snippet with harmless parameters from the inventory (or the defaults).

    Raises an InputError (nothing contacted) when the inventory's values are invalid.
    """
    prepared = offline_prepared(host, variables)
    options = options_from(host, {**variables, "sagefleet_diagnose_restart": False})
    options.restart = False
    backup_dir = str(given_or_none(host, variables, BACKUP_DIR.name) or BACKUP_DIR.default)
    given = given_or_none(host, variables, "sagefleet_agent_staging_dir")
    staging = str(given or transfer.DEFAULT_STAGING_DIR)
    root = transfer.check_staging_dir(staging)
    endpoint = prepared.endpoints[0]
    questions = [
        {
            "kind": "service",
            "name": prepared.service_name,
            "image_path_pattern": prepared.agent_image_path_pattern,
            "display_name_pattern": prepared.agent_display_name_pattern,
        },
        {
            "kind": "registry",
            "path": "HKLM\\SOFTWARE\\Microsoft\\NET Framework Setup\\NDP\\v4\\Full",
            "name": "Release",
            "view": "64",
        },
        {"kind": "file", "path": options.settings_path, "hash": True, "acl": True},
        {"kind": "json_file", "path": options.settings_path},
        {"kind": "tcp", "host": endpoint.name, "port": endpoint.port, "timeout_ms": 3000},
        {"kind": "product", "pattern": "^Sage 100"},
        {"kind": "dir", "path": options.install_dir},
    ]
    profile = agent_profile.for_host(variables, host=host)
    staged = transfer.staged_path(_PROBE_UNUSED_SHA, "selftest", root)
    params: dict[str, dict[str, Any]] = {
        "host_info": {},
        "facts": prepared.facts_params(),
        "query": {"questions": questions},
        "discover": discover.params(),
        "diagnose": options.params(),
        "agent_learn": agent_learn.params(profile, agent_learn.Lookup.of(profile)),
        # With the direct probes: they only connect, as facts' do.
        "agent_connections": connection.params(
            connection.options_from(host, variables), probe=True
        ),
        "stage_status": transfer.status_params(staged),
        "stage_cleanup": {"root": root, "remove": [], "remove_parts": []},
        # The listing only: nothing is removed, a missing folder is not created.
        "agent_backup_prune": {"backup_dir": backup_dir, "remove": []},
    }
    return [(name, params[name]) for name in READ_ONLY]


def _redacted(value: Any) -> Any:
    """A document fit for the transcript: secrets masked, file contents left out."""
    if isinstance(value, Mapping):
        return {
            str(k): f"<{len(v)} characters, not kept>"
            if k in _BLOBS and isinstance(v, str)
            else _redacted(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_redacted(v) for v in value]
    return value


def run_one(session: HostSession, name: str, params: dict[str, Any]) -> SnippetRun:
    """Run one snippet as run_snippet would, keeping rc, sizes, timing and the error text.

    Raises HostUnreachable or AuthenticationFailed: the host cannot be tested at all.
    """
    command, prefix = snippet_invocation(name, params)
    run = SnippetRun(name, redact(params), len(command), len(prefix or b""))
    started = time.monotonic()
    try:
        rc, stdout, stderr = session.execute(command, [prefix] if prefix else None)
        run.rc = rc
        document = parse_result(session.host, name, rc, stdout, stderr)
    except (HostUnreachable, AuthenticationFailed):
        raise
    except SnippetFailed as exc:
        run.error = exc.error
    except RemoteError as exc:
        run.error = f"{exc.kind}: {exc.message}"
    else:
        run.ok = True
        run.output = _redacted(redact(document))
    finally:
        run.duration_s = round(time.monotonic() - started, 3)
    return run


def run(session: HostSession, host: str, variables: Mapping[str, Any]) -> SelftestResult:
    """Every read-only snippet on one host, in order; stops only if the host cannot be reached."""
    steps = plan(host, variables)
    result = SelftestResult(host=host, started_at=dt.datetime.now(dt.UTC).isoformat())
    for name, params in steps:
        try:
            result.runs.append(run_one(session, name, params))
        except (HostUnreachable, AuthenticationFailed) as exc:
            result.unreachable = f"{exc.kind}: {exc.message}"
            break
    return result


def render(result: SelftestResult, secrets: Sequence[str]) -> str:
    """The console lines: one per snippet, the error text under a FAIL (secrets masked)."""
    lines = [f"selftest of {result.host}: read-only snippets, one run each"]
    width = max((len(r.snippet) for r in result.runs), default=0)  # one column of names
    for r in result.runs:
        how = f"command line {r.command_line_length} characters"
        if r.stdin_bytes:
            how += f", script on stdin ({r.stdin_bytes} bytes)"
        if r.ok:
            lines.append(f"  OK    {r.snippet:<{width}} {r.duration_s:6.2f} s  {how}")
            continue
        rc = "rc ?" if r.rc is None else f"rc {r.rc}"
        lines.append(f"  FAIL  {r.snippet:<{width}} {r.duration_s:6.2f} s  {rc}, {how}")
        for text in (r.error or "no error text").splitlines():
            lines.append(f"        {text}")
    if result.unreachable is not None:
        lines.append(f"  UNREACHABLE  {result.unreachable}")
    failed = sum(1 for r in result.runs if not r.ok)
    lines.append(
        f"{result.host}: {len(result.runs) - failed} OK, {failed} FAIL"
        + (", host unreachable" if result.unreachable is not None else "")
    )
    text = "\n".join(lines)
    return mask(text.encode(), secrets).decode("utf-8", errors="replace")


def _json(value: Any) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode()


def write_bundle(result: SelftestResult, dest: Path, secrets: Sequence[str]) -> Path:
    """The transcript zip: one file per snippet run and a summary, secrets masked (refused if
    one remains), as the support bundles of `playbooks/diagnose.yml` are written."""
    bundle = Bundle(host=result.host, collected_at=result.started_at, status=result.status)
    summary = {
        "host": result.host,
        "started_at": result.started_at,
        "status": result.status,
        "unreachable": result.unreachable,
        "not_run": NOT_RUN,
        "snippets": [
            {"snippet": r.snippet, "ok": r.ok, "rc": r.rc, "duration_s": r.duration_s}
            for r in result.runs
        ],
    }
    bundle.files["selftest.json"] = _json(summary)
    for index, r in enumerate(result.runs, 1):
        record = {**asdict(r), "transport": r.transport}
        bundle.files[f"snippets/{index:02d}-{r.snippet}.json"] = _json(record)
    if result.unreachable is not None:
        bundle.notes.append(mask(result.unreachable.encode(), secrets).decode("utf-8", "replace"))
    bundle.files = {name: mask(data, secrets) for name, data in bundle.files.items()}
    return write_zip(bundle, dest, secrets)


def secrets_of(variables: Mapping[str, Any]) -> list[str]:
    """Every secret the inventory holds for the host (masked wherever it shows up)."""
    return known_secrets(variables)

"""Write the agent's settings.json to one host, or roll it back: the bastion side.

Every decision (file, content, ACL, backups, what counts as a change) is made
here; the ``settings_write`` snippet only swaps files. The content travels on
stdin only. See docs/settings.md, "Writing settings.json to the hosts".
"""

from __future__ import annotations

import base64
import binascii
import codecs
import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sagefleet.agent import profile as agent_profile
from sagefleet.agent.connection.evidence import parse_time
from sagefleet.errors import InputError, SagefleetError, field_error
from sagefleet.outcomes import Outcome
from sagefleet.remote import AuthenticationFailed, HostUnreachable, RemoteError, SnippetFailed
from sagefleet.remote.errors import END_NOT_CONFIRMED, UNANSWERED
from sagefleet.remote.session import HostSession
from sagefleet.settings.document import HostSettings
from sagefleet.settings.errors import OverwriteRefused
from sagefleet.settings.jsonio import settings_sha256
from sagefleet.settings.redact import diff
from sagefleet.settings.validate import build_host_settings
from sagefleet.variables import given_or_none
from sagefleet.variables.jobs import KEEP_BACKUPS

SNIPPET = "settings_write"
SETTINGS_FILE = "settings.json"
DEFAULT_SERVICE_ACCOUNT = "LocalSystem"
# As sagefleet_settings_keep_backups declares them.
DEFAULT_KEEP_BACKUPS: int = KEEP_BACKUPS.default
MAX_KEEP_BACKUPS = int(KEEP_BACKUPS.high or 0)
# Built-in principals by well-known SID, never by name: their names are in the server's UI
# language (BUILTIN\\Administrateurs on a French server), and an English name does not
# translate there. Administrators, SYSTEM.
ADMINISTRATORS_SID = "S-1-5-32-544"
SYSTEM_SID = "S-1-5-18"
LOCAL_SERVICE_SID = "S-1-5-19"
NETWORK_SERVICE_SID = "S-1-5-20"
ACL_OWNER = ADMINISTRATORS_SID
FULL_CONTROL = (ADMINISTRATORS_SID, SYSTEM_SID)
STATES = ("present", "rollback")

# Names a service runs as (Win32_Service.StartName) or an inventory may give for the
# built-in service accounts, whatever the host's language: granted by SID.
_WELL_KNOWN_ACCOUNTS = {
    "localsystem": SYSTEM_SID,
    ".\\localsystem": SYSTEM_SID,
    "nt authority\\localsystem": SYSTEM_SID,
    "system": SYSTEM_SID,
    "nt authority\\system": SYSTEM_SID,
    "localservice": LOCAL_SERVICE_SID,
    "nt authority\\localservice": LOCAL_SERVICE_SID,
    "nt authority\\local service": LOCAL_SERVICE_SID,
    "networkservice": NETWORK_SERVICE_SID,
    "nt authority\\networkservice": NETWORK_SERVICE_SID,
    "nt authority\\network service": NETWORK_SERVICE_SID,
}
_ABSOLUTE = re.compile(r"^(?:[A-Za-z]:\\|\\\\[^\\]+\\[^\\]+\\)")
_BAD_PATH_CHARS = re.compile(r'[<>"|?*\x00-\x1f]')
# Long base64 runs in a transport error could only be file content echoed back.
_BLOB = re.compile(r"[A-Za-z0-9+/=]{64,}")


class SettingsWriteFailed(SagefleetError):
    """settings.json could not be written (or restored) on a host.

    The swap on the host is a single step, so the file is the previous one
    (the snippet says so) or, after a lost answer, possibly the new one.
    """

    def __init__(self, host: str, path: str, detail: str) -> None:
        self.host = host
        self.path = path
        self.detail = detail
        # The snippet's own messages already name the file: say it once.
        named = path.lower() in detail.lower()
        super().__init__(
            f"{host}: {detail}" if named else f"{host}: writing {path} failed: {detail}"
        )


class SettingsRefused(SettingsWriteFailed):
    """The host's current settings.json must not be replaced by the new document (a vendor
    file under rendered content, or connections that would be dropped): nothing written."""

    def __init__(self, host: str, path: str, reason: str) -> None:
        super().__init__(host, path, f"refusing to overwrite {path}: {reason}")


@dataclass(frozen=True)
class SettingsTarget:
    """Where settings.json lives on a host and how it is protected."""

    path: str
    service_account: str = DEFAULT_SERVICE_ACCOUNT
    keep_backups: int = DEFAULT_KEEP_BACKUPS
    #: The agent profile's service lookup (name, image_path_pattern, display_name_pattern)
    #: when the agent reads settings.json only as it starts: the host then says whether
    #: the running agent started after the file's last write (None: not asked).
    agent: Mapping[str, str | None] | None = field(default=None, compare=False)

    @property
    def leaf(self) -> str:
        return self.path.rsplit("\\", 1)[-1]

    def acl(self) -> dict[str, Any]:
        """The only accounts that may open the file: it holds database passwords."""
        reader = grant_account(self.service_account)
        read = [] if reader.lower() in (a.lower() for a in FULL_CONTROL) else [reader]
        return {"owner": ACL_OWNER, "full_control": list(FULL_CONTROL), "read": read}


def reading_agent(target: SettingsTarget, profile: agent_profile.AgentProfile) -> SettingsTarget:
    """``target`` whose writes also ask whether the running agent read the file since its
    last write, when ``profile`` says the agent reads it only as it starts
    (``settings.read_at_start``); else ``target`` as it is."""
    if not profile.reads_settings_at_start:
        return target
    return dataclasses.replace(target, agent=profile.service_lookup)


def grant_account(account: str) -> str:
    """What to grant on Windows for a service's StartName: the SID of LocalSystem and the
    other built-in service accounts, any other account as named (``DOMAIN\\user``, or
    ``.\\user``, which the host resolves with its computer name)."""
    return _WELL_KNOWN_ACCOUNTS.get(account.strip().lower(), account.strip())


def default_path(install_dir: str | None = None) -> str:
    """Where the shipped agent profile puts settings.json, in ``install_dir`` if given
    (a host's own profile: ``agent_profile.for_host(...).settings_path()``)."""
    return agent_profile.default().settings_path(install_dir)


def settings_target(
    host: str,
    *,
    path: str | None = None,
    install_dir: str | None = None,
    service_account: str | None = None,
    keep_backups: int = DEFAULT_KEEP_BACKUPS,
) -> SettingsTarget:
    """Check the options before the host is contacted; an InputError names what to fix."""
    resolved = path.replace("/", "\\") if path else default_path(install_dir)
    if not _ABSOLUTE.match(resolved) or resolved.endswith("\\") or _BAD_PATH_CHARS.search(resolved):
        where, fix = "path" if path else "install_dir", "write it as an absolute path, e.g. "
        message = "must be the absolute Windows path of a file"
        raise field_error(host, where, path or install_dir, message, fix + default_path())
    account = (service_account or DEFAULT_SERVICE_ACCOUNT).strip()
    if not account or len(account) > 256 or not account.isprintable():
        message = "must be the account the agent service runs as"
        fix = "write DOMAIN\\user, .\\user, NT SERVICE\\name or LocalSystem"
        raise field_error(host, "service_account", service_account, message, fix)
    whole = isinstance(keep_backups, int) and not isinstance(keep_backups, bool)
    if not whole or not 0 <= keep_backups <= MAX_KEEP_BACKUPS:
        message = f"must be a whole number from 0 to {MAX_KEEP_BACKUPS}"
        raise field_error(host, "keep_backups", keep_backups, message)
    return SettingsTarget(resolved, account, keep_backups)


#: The settings task's options and the inventory variables the role gives them from.
JOB_VARIABLES = {
    "path": "sagefleet_settings_path",
    "install_dir": "sagefleet_settings_install_dir",
    "service_account": "sagefleet_settings_service_account",
    "keep_backups": "sagefleet_settings_keep_backups",
}
#: The rollback's own option (state rollback), and the variable the role gives it from.
ROLLBACK_VARIABLES = {"backup": "sagefleet_settings_backup"}


def said_of_variable(exc: InputError, host: str) -> InputError:
    """An error about one of the settings task's options, said of the inventory variable
    the role gives it from: the name the operator set (one name per concept)."""
    names = {**JOB_VARIABLES, **ROLLBACK_VARIABLES}
    return exc.said_of(names.get(exc.field or "", exc.field), host)


def job_target(host: str, variables: Mapping[str, Any]) -> SettingsTarget:
    """The settings playbook's target of one host, from its inventory as the role reads it
    (install folder and account default to the agent's), checked before any host is
    contacted: an InputError names the inventory variable, not the task's option."""
    given = {option: given_or_none(host, variables, name) for option, name in JOB_VARIABLES.items()}
    install_dir = given["install_dir"] or given_or_none(
        host, variables, "sagefleet_agent_install_dir"
    )
    account = given["service_account"] or given_or_none(
        host, variables, "sagefleet_agent_service_account"
    )
    profile = agent_profile.for_host(variables, host=host)
    try:
        return settings_target(
            host,
            path=given["path"] or profile.settings_path(install_dir or None),
            install_dir=install_dir or None,
            service_account=account,
            keep_backups=_whole(given["keep_backups"], DEFAULT_KEEP_BACKUPS),
        )
    except InputError as exc:
        raise said_of_variable(exc, host) from None


def job_backup(host: str, variables: Mapping[str, Any], target: SettingsTarget) -> str | None:
    """The backup a rollback of the settings playbook restores (sagefleet_settings_backup,
    empty for the newest), checked before any host is contacted as the task checks it."""
    given = given_or_none(host, variables, ROLLBACK_VARIABLES["backup"])
    try:  # the task's str option: Ansible gives it -e sagefleet_settings_backup=5 as '5'
        return check_backup_name(host, target, None if given is None else str(given))
    except InputError as exc:
        raise said_of_variable(exc, host) from None


def _whole(found: Any, default: int) -> Any:
    """A number as the task's int option takes it (``-e name=2`` gives the text '2');
    anything else is left for settings_target to refuse."""
    if found is None:
        return default
    if isinstance(found, str) and re.fullmatch(r"\s*-?\d+\s*", found):
        return int(found)
    return found


def check_backup_name(host: str, target: SettingsTarget, backup: str | None) -> str | None:
    """A named backup must be one of ours, in the settings folder: never another path."""
    if not backup:
        return None
    pattern = rf"{re.escape(target.leaf)}\.\d{{8}}T\d{{6}}Z\.bak"
    if not re.fullmatch(pattern, backup, re.I):
        fix = f"give a name such as {target.leaf}.20250131T142500Z.bak, or none for the newest"
        message = "must be the name of a backup next to settings.json"
        raise field_error(host, "backup", backup, message, fix)
    return backup


def host_settings(host: str, host_vars: Mapping[str, Any]) -> HostSettings:
    """The host's settings.json (vendor files merged, or the template rendered): its
    ``text`` is exactly the bytes that will be written."""
    return build_host_settings(host, host_vars)


def write_params(
    target: SettingsTarget,
    sha256: str,
    *,
    check: bool,
    return_content: bool,
    expect_previous: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Parameters of a write: the content's hash, never the content.

    ``expect_previous`` (``{"sha256": hash or None}``): the file the guard read; the
    host refuses to write when the file changed since (None: no such check).
    """
    return {
        "action": "write",
        "sha256": sha256,
        "backup": None,
        "check": check,
        "return_content": return_content,
        "expect_previous": expect_previous,
        **_target_params(target),
    }


def rollback_params(
    target: SettingsTarget, backup: str | None, *, check: bool, return_content: bool
) -> dict[str, Any]:
    """Parameters of a rollback to ``backup`` (None: the newest)."""
    return {
        "action": "rollback",
        "sha256": None,
        "backup": backup,
        "check": check,
        "return_content": return_content,
        "expect_previous": None,
        **_target_params(target),
    }


def protect_params(target: SettingsTarget) -> dict[str, Any]:
    """Parameters of a protect: the file's ACL set again, its content untouched."""
    return {**rollback_params(target, None, check=False, return_content=False), "action": "protect"}


def _target_params(target: SettingsTarget) -> dict[str, Any]:
    """What a write and a rollback both send of their target: the file, its backups kept,
    its ACL and the agent to ask about."""
    return {
        "path": target.path,
        "keep_backups": target.keep_backups,
        "acl": target.acl(),
        "agent": None if target.agent is None else dict(target.agent),
    }


def content_stdin(text: str) -> list[bytes]:
    """The content as the snippet reads it: one base64 line of the UTF-8 bytes."""
    return [base64.b64encode(text.encode("utf-8")) + b"\r\n"]


@dataclass
class SettingsOutcome:
    """What happened on one host, safe to return to Ansible (no secret inside)."""

    host: str
    path: str
    action: str
    changed: bool
    sha256: str | None
    previous_sha256: str | None
    existed: bool
    backup: str | None = None
    restored: str | None = None
    backups: list[str] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)
    diff: str | None = None
    check: bool = False
    #: Members only the host's current file had, kept in what is written (names only).
    kept: list[str] = field(default_factory=list)
    #: The running agent started before the file's last write: it runs without the
    #: file's settings until restarted (``agent_note`` says why, or why it is unknown).
    agent_unread: bool = False
    agent_note: str = ""
    #: Temporary or put-aside copies a stopped write had left (they held the settings),
    #: removed by this write (names only).
    leftovers: list[str] = field(default_factory=list)
    #: A write whose answer never came, found done when the file was read again: why
    #: (the error), said in the message.
    answer_lost: str = ""

    @property
    def restart_pending(self) -> bool:
        """The file is as wanted, but the agent has not read it (a restart that failed or
        never ran after an earlier write): the restart is still owed."""
        return not self.changed and self.agent_unread

    # The replaced file's text (read for the guard): holds secrets, never returned.
    previous_text: str | bytes | None = field(default=None, repr=False)
    # What a guarded write sends (the document laid over the current file): holds secrets.
    text: str | None = field(default=None, repr=False)

    @property
    def kept_note(self) -> str:
        """The members kept from the current file, for messages (names, never values)."""
        if not self.kept:
            return ""
        return f"; {len(self.kept)} member(s) only the current file had, kept: " + ", ".join(
            self.kept
        )

    @property
    def msg(self) -> str:
        return self._msg() + self.kept_note + self.leftovers_note + self.answer_lost_note

    @property
    def answer_lost_note(self) -> str:
        if not self.answer_lost:
            return ""
        return f" (its answer lost: {self.answer_lost}; the file read again is the one sent)"

    @property
    def leftovers_note(self) -> str:
        """The copies a stopped write had left, removed by this one, for messages."""
        if not self.leftovers:
            return ""
        return (
            f"; removed {len(self.leftovers)} temporary file(s) a stopped write had left "
            "(they held the settings): " + ", ".join(self.leftovers)
        )

    def _msg(self) -> str:
        if not self.changed:
            text = f"{self.path} already up to date"
            if self.agent_note:
                text += f"; {self.agent_note}"
            if self.restart_pending:
                text += "; it would be restarted" if self.check else "; restarting it"
            return text
        verb = "would be" if self.check else "was"
        if self.action == "rollback":
            return f"{self.path} {verb} restored from {self.restored}"
        done = "created" if not self.existed else "updated"
        text = f"{self.path} {verb} {done}"
        if self.backup:
            text += f", previous file kept as {self.backup}"
        return text

    def host_outcome(self, entities: Sequence[str] = ()) -> dict[str, Any]:
        """The host's status in the fleet report (sagefleet.outcomes) and what was done,
        with the ``entities`` written: ``planned`` in check mode when something would be
        done, ``settings-updated`` when the file was written or restored,
        ``restarted`` when only a restart was owed, else ``unchanged``. The restart that
        follows a change may still fail the host (report.outcome_table)."""
        if self.check and (self.changed or self.restart_pending):
            status = Outcome.PLANNED
        elif self.changed:
            status = Outcome.SETTINGS_UPDATED
        elif self.restart_pending:
            status = Outcome.RESTARTED
        else:
            status = Outcome.UNCHANGED
        named = f"; entities: {', '.join(entities)}" if entities else ""
        return {
            "outcome": status.value,
            "reason": None,
            "plan": self.msg + named,
            "entities": list(entities),
        }

    def to_result(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            # A restart still owed counts as a change: it is what notifies the handler.
            "changed": self.changed or self.restart_pending,
            "restart_pending": self.restart_pending,
            "path": self.path,
            "state": "rollback" if self.action == "rollback" else "present",
            "sha256": self.sha256,
            "previous_sha256": self.previous_sha256,
            "backup": self.backup,
            "restored": self.restored,
            "backups": list(self.backups),
            "pruned": list(self.pruned),
            "kept": list(self.kept),
            # What the host said of the running agent, when the file was not changed.
            "agent_note": "" if self.changed else self.agent_note,
            "msg": self.msg,
        }
        if self.diff is not None:
            result["diff"] = {"prepared": self.diff}
        return result


def _decoded(host: str, path: str, value: Any) -> str | bytes | None:
    """A file's content as the host sent it (base64): its text, read as .NET's
    File.ReadAllText reads it (a UTF-8 or UTF-16 byte order mark says the encoding, else
    UTF-8), or its bytes when they are not that text (an ANSI file): the write then
    refuses to replace a file whose connections it cannot read, unless told to."""
    if value is None:
        return None
    try:
        raw = base64.b64decode(str(value), validate=True)
    except binascii.Error:
        raise SettingsWriteFailed(
            host, path, "the host returned content that is not base64"
        ) from None
    encoding = "utf-16" if raw[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) else "utf-8-sig"
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError:
        return raw


def _names(value: Any) -> list[str]:
    return [str(item) for item in value] if isinstance(value, list) else []


def interpret(
    host: str,
    target: SettingsTarget,
    result: Any,
    *,
    action: str,
    after_text: str | None = None,
    check: bool = False,
    want_diff: bool = False,
) -> SettingsOutcome:
    """Turn the snippet's document into an outcome; the diff is redacted here."""
    if not isinstance(result, dict) or result.get("action") != action:
        raise SettingsWriteFailed(host, target.path, "unexpected answer from the host")
    expected = settings_sha256(after_text) if after_text is not None else None
    if expected is not None and str(result.get("sha256") or "").lower() != expected:
        raise SettingsWriteFailed(host, target.path, "the host reports another SHA-256")
    path = str(result.get("path") or target.path)
    outcome = SettingsOutcome(
        host=host,
        path=path,
        action=action,
        changed=bool(result.get("changed")),
        sha256=result.get("sha256"),
        previous_sha256=result.get("previous_sha256"),
        existed=bool(result.get("existed")),
        backup=result.get("backup"),
        restored=result.get("restored"),
        backups=_names(result.get("backups")),
        pruned=_names(result.get("pruned")),
        check=check,
        leftovers=_names(result.get("leftovers")),
    )
    outcome.agent_unread, outcome.agent_note = agent_reading(result)
    if outcome.changed and result.get("previous") is not None:
        outcome.previous_text = _decoded(host, path, result.get("previous"))
    if want_diff and outcome.changed:
        after = (
            after_text if after_text is not None else _decoded(host, path, result.get("content"))
        )
        outcome.diff = diff(outcome.previous_text, after)
    return outcome


def _utc(moment: Any) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def agent_reading(result: Mapping[str, Any]) -> tuple[bool, str]:
    """Whether the running agent has not read the file since its last write (a restart
    that failed or never ran after a write), and what to say of it; both times are the
    host's clock. Undecided cases say so and restart nothing."""
    agent = result.get("agent")
    if not isinstance(agent, Mapping):
        return False, ""
    candidates = _names(agent.get("candidates"))
    if len(candidates) > 1:
        return False, (
            f"several services match the agent profile ({', '.join(candidates)}): "
            "whether the agent read the file is unknown"
        )
    name, state = agent.get("name"), agent.get("state")
    if not name:
        return False, ""
    if state != "Running":
        return False, f"the agent ({name}) is {state}: it reads the file when it starts"
    started = parse_time(agent.get("started_utc"))
    written, now = parse_time(result.get("written_utc")), parse_time(result.get("now_utc"))
    if started is None or written is None:
        why = agent.get("error") or "no time in the host's answer"
        return False, f"whether the running agent read the file is unknown ({why})"
    if now is not None and written > now:
        return False, (
            f"the file's last write ({_utc(written)}) is later than the host's clock "
            f"({_utc(now)}): whether the running agent read it is unknown"
        )
    if started < written:
        return True, (
            f"the agent ({name}) started at {_utc(started)}, before the file was last "
            f"written at {_utc(written)}: it runs without these settings"
        )
    return False, ""


def _failure(host: str, target: SettingsTarget, exc: RemoteError) -> SettingsWriteFailed:
    detail = exc.error if isinstance(exc, SnippetFailed) else exc.message
    return SettingsWriteFailed(host, target.path, _BLOB.sub("<data>", detail.strip()))


def _run_write(
    session: HostSession,
    target: SettingsTarget,
    text: str,
    *,
    check: bool,
    want_diff: bool,
    return_content: bool,
    expect_previous: dict[str, Any] | None = None,
    unanswered: bool = False,
) -> SettingsOutcome:
    """One run of the snippet, its answer interpreted. A RemoteError fails it as
    SettingsWriteFailed, except a host not reached or credentials refused, and, with
    ``unanswered``, a command that never answered (UNANSWERED), raised as they are."""
    passed: tuple[type[RemoteError], ...] = (HostUnreachable, AuthenticationFailed)
    if unanswered:
        passed += UNANSWERED
    sha256 = settings_sha256(text)
    params = write_params(
        target,
        sha256,
        check=check,
        return_content=return_content,
        expect_previous=expect_previous,
    )
    try:
        result = session.run_snippet(
            SNIPPET,
            params,
            stdin=None if check else content_stdin(text),
            sensitive=return_content,
        )
    except passed:
        raise
    except RemoteError as exc:
        raise _failure(session.host, target, exc) from None
    return interpret(
        session.host,
        target,
        result,
        action="write",
        after_text=text,
        check=check,
        want_diff=want_diff,
    )


def probe_settings(
    session: HostSession, target: SettingsTarget, settings: HostSettings, *, want_diff: bool
) -> SettingsOutcome:
    """Read the host's current file (check mode, content returned), refuse, before anything
    is written, to replace what must not be replaced, and lay the document over the file
    so that nothing it holds is lost (``HostSettings.over``). The outcome's ``text`` is
    what a write sends, ``changed`` and ``diff`` compare it with the file, ``kept`` names
    what only the file had. Raises SettingsRefused naming host and file."""
    outcome = _run_write(
        session, target, settings.text, check=True, want_diff=want_diff, return_content=True
    )
    outcome.text = settings.text
    if not outcome.changed:
        return outcome
    try:
        laid = settings.over(outcome.previous_text)
    except OverwriteRefused as exc:
        raise SettingsRefused(session.host, outcome.path, exc.reason) from None
    outcome.kept = list(laid.kept)
    if laid.text != settings.text:
        outcome.text = laid.text
        outcome.sha256 = settings_sha256(laid.text)
        outcome.changed = outcome.sha256 != str(outcome.previous_sha256 or "").lower()
        shown = want_diff and outcome.changed
        outcome.diff = diff(outcome.previous_text, laid.text) if shown else None
    return outcome


def write_settings(
    session: HostSession,
    target: SettingsTarget,
    text: str,
    *,
    check: bool = False,
    want_diff: bool = False,
    guard: HostSettings | None = None,
    probed: SettingsOutcome | None = None,
) -> SettingsOutcome:
    """Make the host's settings.json equal to ``text``; unchanged when the hashes match.

    In check mode the content is not even sent. With ``guard`` (the host's
    document, whose ``text`` this is), the current file is read first, the write
    refused when it must not be replaced (SettingsRefused), and the document laid
    over it (:func:`probe_settings`): what is written is ``text`` plus the members
    only the file had. ``probed`` is that read when the caller made it already.
    The write then only happens if the file is still the one read. Raises
    SettingsWriteFailed (host and path named) when the host refuses; the previous
    file is intact. Unreachable or authentication errors propagate as they are.
    """
    if guard is None:
        return _run_write(
            session, target, text, check=check, want_diff=want_diff, return_content=want_diff
        )
    if guard.text != text:
        raise ValueError("the guard's document is not the text to write")
    if probed is None:
        probed = probe_settings(session, target, guard, want_diff=want_diff)
    if check or not probed.changed:
        probed.check = check
        return probed
    laid = probed.text if probed.text is not None else text
    try:
        outcome = _guarded_write(session, target, laid, probed, unanswered=True)
    except UNANSWERED as exc:
        outcome = _write_unanswered(session, target, guard, laid, probed, exc)
    outcome.kept, outcome.text = list(probed.kept), laid
    if want_diff and outcome.changed:
        outcome.diff = diff(probed.previous_text, laid)
    return outcome


def _guarded_write(
    session: HostSession,
    target: SettingsTarget,
    laid: str,
    probed: SettingsOutcome,
    *,
    unanswered: bool = False,
) -> SettingsOutcome:
    """Write ``laid`` only if the file is still the one ``probed`` read."""
    return _run_write(
        session,
        target,
        laid,
        check=False,
        want_diff=False,
        return_content=False,
        expect_previous={"sha256": probed.previous_sha256},
        unanswered=unanswered,
    )


def _write_unanswered(
    session: HostSession,
    target: SettingsTarget,
    guard: HostSettings,
    laid: str,
    probed: SettingsOutcome,
    exc: RemoteError,
) -> SettingsOutcome:
    """The guarded write never answered (its Receive failed, timed out or lost its
    connection): the terminate Signal may have killed it before its swap, or its answer
    was lost after. Running it again is no answer: a second run after a swap finds the
    file changed since it was read, and refuses. Once its command surely runs no more (its
    shell deleted), the file is read again: the text sent means it was written (its backup
    the one that appeared); the file it was to replace, that it was not, and it is written
    once more; anything else, that another writer came between."""
    host, path = session.host, target.path
    if not session.end_commands():
        raise _unsure(
            exc,
            host,
            path,
            f"{exc.message}; {END_NOT_CONFIRMED}: the write may still run, and the file be "
            "the previous one or the new one; read it on the host before running again",
        )
    try:
        again = probe_settings(session, target, guard, want_diff=False)
    except (RemoteError, SettingsRefused) as read:
        raise _unsure(
            read,
            host,
            path,
            f"{exc.message}; the file could not be read again ({read}): it may be the "
            "previous one or the new one",
        ) from None
    found = str(again.previous_sha256 or "").lower()
    if found == settings_sha256(laid):
        before = set(probed.backups)
        made = [name for name in again.backups if name not in before]
        return dataclasses.replace(
            again,
            check=False,
            changed=True,
            sha256=found,
            previous_sha256=probed.previous_sha256,
            existed=probed.existed,
            backup=made[-1] if len(made) == 1 else None,
            answer_lost=exc.message,
        )
    if found == str(probed.previous_sha256 or "").lower():
        return _guarded_write(session, target, laid, probed)
    raise SettingsWriteFailed(
        host,
        path,
        f"{exc.message}; read again, the file is neither the one read before the write nor "
        "the one sent: something else changed it meanwhile; run again",
    )


def _unsure(error: Exception, host: str, path: str, text: str) -> SagefleetError:
    """The error of a write whose result is not known (``text`` says what is): a host no
    longer reached stays so (the task ends it unreachable, the text its reason); anything
    else fails the write."""
    if isinstance(error, HostUnreachable):
        return type(error)(host, f"writing {path}: {text}")
    return SettingsWriteFailed(host, path, text)


def protect_settings(session: HostSession, target: SettingsTarget) -> bool:
    """The file at ``target.path``, if there, open to its ``acl`` only, content untouched
    (a copy a stopped install left with its folder's DACL): whether it was there."""
    result = session.run_snippet(SNIPPET, protect_params(target))
    return interpret(session.host, target, result, action="protect").existed


def rollback_settings(
    session: HostSession,
    target: SettingsTarget,
    *,
    backup: str | None = None,
    check: bool = False,
    want_diff: bool = False,
) -> SettingsOutcome:
    """Restore the newest backup (or ``backup``) in one step; unchanged when already equal.

    The file being replaced is not backed up: it is what the inventory renders
    (the write play recreates it), and backing it up would make the next
    rollback swap back to it.
    """
    backup = check_backup_name(session.host, target, backup)
    params = rollback_params(target, backup, check=check, return_content=want_diff)
    try:
        result = session.run_snippet(SNIPPET, params, sensitive=want_diff)
    except AuthenticationFailed:
        raise
    except UNANSWERED as exc:
        # Never run again blind (sagefleet.remote.retry.replayable): said as it stands.
        raise _unsure(
            exc,
            session.host,
            target.path,
            f"{exc.message}; its answer lost: the file may be the one it replaced or the "
            "restored backup; run the rollback again (a file already restored is reported "
            "up to date, and an agent that has not read it restarted)",
        ) from None
    except RemoteError as exc:
        raise _failure(session.host, target, exc) from None
    return interpret(
        session.host, target, result, action="rollback", check=check, want_diff=want_diff
    )

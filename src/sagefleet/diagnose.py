"""Support bundle of one host: the troubleshooting sequence of a disconnected agent.

Facts and findings, the agent's own connections (SF513) and the ``diagnose`` snippet,
turned into steps and a verdict (sagefleet.diagnosis) and written into one zip on the
bastion, every known secret masked. The steps, the bundle's files and the assumptions:
docs/operations.md, "Support bundle".
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime as dt
import hashlib
import io
import json
import re
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus
from xml.sax.saxutils import escape as xml_escape

from sagefleet import __version__, outcomes, preflight
from sagefleet.agent import connection
from sagefleet.agent import profile as agent_profile
from sagefleet.agent.connection import ConnectionOptions, Evidence, Verdict
from sagefleet.diagnosis import Diagnosis, diagnose
from sagefleet.errors import SagefleetError
from sagefleet.files import write_atomic
from sagefleet.findings import Finding
from sagefleet.inventory import PASSWORD_VARS
from sagefleet.remote import HostSession, RemoteError
from sagefleet.settings import redact, validate_host
from sagefleet.settings.redact import scrub_lines
from sagefleet.variables import given_or_none, value
from sagefleet.variables.declarations import STAGING_DIR

MASK = "********"
DEFAULT_STAGING: str = STAGING_DIR.default
DEFAULT_INSTALLER_LOGS: tuple[tuple[str, str], ...] = (
    (DEFAULT_STAGING, "install-*.log"),
    ("C:\\Windows\\Temp", "Setup Log *.txt"),
)
#: Service Control Manager events about a service: start failed, timeout, crash, stopped.
SCM_EVENT_IDS = (7000, 7009, 7011, 7022, 7023, 7024, 7031, 7034)
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class DiagnoseError(SagefleetError):
    """The bundle could not be produced safely (a secret would have leaked)."""


@dataclass
class DiagnoseOptions:
    """What to collect on a host; every default is a documented assumption."""

    service_name: str
    install_dir: str
    settings_path: str
    agent_log_dirs: list[str]
    installer_logs: list[tuple[str, str]]
    tail_bytes: int = 256 * 1024
    max_files: int = 3
    event_days: int = 7
    event_max: int = 100
    restart: bool = False
    restart_timeout_s: int = 60
    #: How the Service Control Manager shows the service (its events name it so).
    display_names: tuple[str, ...] = ()
    #: The agent's log files in agent_log_dirs (the profile's logs.file_pattern).
    agent_log_filter: str = "*.log"
    #: SF513's options: the agent's connections are one step of the sequence.
    connection: ConnectionOptions | None = None
    #: The agent profile used (profile.json) and the host's entities (entities.json), as
    #: the inventory gives them, secrets redacted: what a support ticket needs to know.
    profile: dict[str, Any] = field(default_factory=dict)
    entities: dict[str, Any] = field(default_factory=dict)

    def params(self) -> dict[str, Any]:
        logs = [
            {
                "kind": "agent",
                "folder": folder,
                "filter": self.agent_log_filter,
                "max_files": self.max_files,
            }
            for folder in self.agent_log_dirs
        ] + [
            {"kind": "installer", "folder": folder, "filter": pattern, "max_files": self.max_files}
            for folder, pattern in self.installer_logs
        ]
        return {
            "service_name": self.service_name,
            "logs": logs,
            "tail_bytes": self.tail_bytes,
            "settings_path": self.settings_path,
            "events": {
                "providers": [self.service_name] if self.service_name else [],
                "scm_ids": list(SCM_EVENT_IDS),
                "display_names": list(self.display_names),
                "days": self.event_days,
                "max": self.event_max,
            },
            "restart": self.restart,
            "restart_timeout_s": self.restart_timeout_s,
        }


def _folders(found: list[str]) -> list[str]:
    return [v.replace("/", "\\").rstrip("\\") for v in found]


def options_from(host: str, variables: Mapping[str, Any]) -> DiagnoseOptions:
    """Validate the diagnose variables of one host (nothing is contacted on error)."""
    profile = agent_profile.for_host(variables, host=host)
    install_dir = profile.install_dir.replace("/", "\\").rstrip("\\")

    def read(name: str) -> Any:
        return value(host, variables, name)

    restart = read("sagefleet_diagnose_restart")
    agent_dirs = _folders(read("sagefleet_diagnose_agent_log_dirs"))
    installer_dirs = _folders(read("sagefleet_diagnose_installer_log_dirs"))
    staging = str(given_or_none(host, variables, STAGING_DIR.name) or DEFAULT_STAGING)
    installer_logs = [(d, "*.log") for d in installer_dirs] or [
        (staging if folder == DEFAULT_STAGING else folder, pattern)
        for folder, pattern in DEFAULT_INSTALLER_LOGS
    ]
    display = profile.service_display_name
    logs = profile.section("logs")
    profile_logs = (
        [str(logs["dir"]).replace("{install_dir}", install_dir)] if logs.get("dir") else []
    )
    return DiagnoseOptions(
        service_name=profile.service_name or "",
        display_names=(display,) if display else (),
        install_dir=install_dir,
        settings_path=profile.settings_path(),
        agent_log_dirs=agent_dirs or profile_logs or [install_dir + "\\logs", install_dir],
        agent_log_filter=str(logs.get("file_pattern") or "*.log"),
        installer_logs=installer_logs,
        tail_bytes=read("sagefleet_diagnose_tail_kib") * 1024,
        max_files=read("sagefleet_diagnose_max_log_files"),
        event_days=read("sagefleet_diagnose_event_days"),
        restart=restart,
        restart_timeout_s=read("sagefleet_diagnose_restart_timeout_s"),
        connection=connection.options_from(host, variables),
        profile=redact(
            {"origin": profile.origin, "overrides": list(profile.overrides),
             "profile": profile.to_dict()}
        ),
        entities=_entities(host, variables),
    )


def _entities(host: str, variables: Mapping[str, Any]) -> dict[str, Any]:
    """The host's entities as validated, for entities.json: every field but the vendor's
    document (``vendor_source`` says where it was read), secrets redacted; and what the
    validation refused (an entity it refuses is not listed: its errors say why)."""
    validation = validate_host(host, variables, check_render=False)
    return {
        "entities": [
            redact({f.name: getattr(entity, f.name) for f in dataclasses.fields(entity)
                    if f.name != "vendor_settings"})
            for entity in validation.entities
        ],
        "errors": [error.render() for error in validation.errors],
    }


#: The host's own secrets (the connection's under every name, become's, the agent
#: service's): masked wherever they show up.
SECRET_VARIABLES = (*PASSWORD_VARS, "sagefleet_agent_service_password")


def known_secrets(variables: Mapping[str, Any]) -> list[str]:
    """Every secret the inventory holds for the host: masked wherever it shows up."""
    found: set[str] = set()
    for entity in variables.get("sagefleet_entities") or []:
        if isinstance(entity, Mapping):
            for key, value in entity.items():
                if "password" in str(key).lower() and isinstance(value, str) and value:
                    found.add(value)
    jump = variables.get("sagefleet_ssh_jump")
    for value in (
        *(variables.get(key) for key in SECRET_VARIABLES),
        jump.get("password") if isinstance(jump, Mapping) else None,
    ):
        if isinstance(value, str) and value:
            found.add(value)
    return sorted(found, key=len, reverse=True)


#: Base64 text of at least this many characters is masked: a shorter run could match
#: unrelated base64 in a log by chance.
_MIN_BASE64 = 8
#: A secret shorter than this is not searched for by value: one to three characters are in
#: any text by chance (every "a" of a log masked, the bundle unreadable, and the masks
#: would spell the secret). The files are still masked by name (settings.json's secret
#: members, the logs' Password=/Pwd=, JSON members named as secrets).
MIN_SECRET_SEARCHED = 4
#: A secret shorter than this is masked where it stands alone, not inside a longer word or
#: number ("2026" is not masked in a date's 20261206, nor "cafe" in a SHA-256).
_MIN_INSIDE_WORDS = 8
_WORD = b"A-Za-z0-9"


def _searched(secrets: Iterable[str]) -> list[str]:
    return [s for s in secrets if len(s) >= MIN_SECRET_SEARCHED]


def _pattern(form: bytes, secret: str, width: int) -> re.Pattern[bytes]:
    """``form`` as a pattern; a short secret's only where it is not part of a longer word
    (``width``: bytes a character takes in the form, 2 in UTF-16)."""
    body = re.escape(form)
    if len(secret) >= _MIN_INSIDE_WORDS:
        return re.compile(body)
    pad = b"\x00" if width == 2 else b""
    word = b"[" + _WORD + b"]" + pad
    before = b"(?<!" + word + b")" if secret[0].isascii() and secret[0].isalnum() else b""
    after = b"(?!" + word + b")" if secret[-1].isascii() and secret[-1].isalnum() else b""
    return re.compile(before + body + after)


def _secret_forms(secret: str) -> list[tuple[re.Pattern[bytes], bytes]]:
    """(form, mask) of the secret as a file may hold it: UTF-8, UTF-16LE, JSON-escaped,
    URL-encoded, XML-escaped, in the ANSI code page (an installer's log), and base64 at
    each of its three alignments (the part the secret alone decides)."""
    plain = secret.encode("utf-8")
    texts = {
        secret,
        json.dumps(secret, ensure_ascii=False)[1:-1],
        json.dumps(secret, ensure_ascii=True)[1:-1],
        quote(secret, safe=""),
        quote_plus(secret, safe=""),
        xml_escape(secret),
        xml_escape(secret, {'"': "&quot;", "'": "&apos;"}),
    }
    forms = {(text.encode("utf-8"), MASK.encode(), 1) for text in texts}
    forms.add((secret.encode("utf-16-le"), MASK.encode("utf-16-le"), 2))
    with contextlib.suppress(UnicodeEncodeError):
        forms.add((secret.encode("cp1252"), MASK.encode(), 1))
    patterns = [
        (_pattern(form, secret, width), replacement)
        for form, replacement, width in sorted(forms, key=lambda f: len(f[0]), reverse=True)
    ]
    for lead in range(3):
        encoded = base64.b64encode(b"\0" * lead + plain)
        start = 4 * ((lead + 2) // 3)  # the first group holding no leading byte
        whole = 4 * ((len(plain) - (3 - lead) % 3) // 3)  # groups of the secret's bytes only
        core = encoded[start : start + whole]
        if len(core) >= _MIN_BASE64:
            patterns.append((re.compile(re.escape(core)), MASK.encode()))
    return patterns


def mask(data: bytes, secrets: Iterable[str]) -> bytes:
    """``data`` with every known secret replaced by ********, whatever its encoding (a
    secret under MIN_SECRET_SEARCHED characters is left to the masking by name)."""
    for secret in _searched(secrets):
        for pattern, replacement in _secret_forms(secret):
            data = pattern.sub(replacement, data)
    return data


def mask_text(text: str, secrets: Iterable[str]) -> str:
    """A text that quotes the host (an error, a path) for the console, a task result or
    the manifest: the inventory's secrets masked, and every password written by name
    (Password=, user:password@, a JSON member named as a secret), which the inventory may
    not hold."""
    masked = mask(text.encode("utf-8"), secrets).decode("utf-8", "replace")
    return scrub_lines(masked)


def mask_value(value: Any, secrets: Sequence[str]) -> Any:
    """``value`` (a task result: mappings, lists, strings) with mask_text on every string."""
    if isinstance(value, str):
        return mask_text(value, secrets)
    if isinstance(value, Mapping):
        return {key: mask_value(item, secrets) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [mask_value(item, secrets) for item in value]
    return value


def _text_codec(data: bytes) -> tuple[bytes, str]:
    """(byte order mark, codec) of a text file from the host, read back byte for byte: a
    tail of a UTF-16 log has lost its mark; an ANSI log is read as Latin-1, whose ASCII
    names (Password=...) are what matters."""
    for mark, codec in ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"),
                        (b"\xfe\xff", "utf-16-be")):
        if data.startswith(mark):
            return mark, codec
    if len(data) >= 2 and data[1::2].count(0) * 3 > len(data) // 2:
        return b"", "utf-16-le"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return b"", "latin-1"
    return b"", "utf-8"


def scrub_text_file(data: bytes) -> bytes:
    """A log taken from the host with every password it writes by name masked, line by
    line (redact.scrub_lines): Password=/Pwd= of a connection string, a URL's
    user:password@, a JSON member named like a secret. The inventory's secrets are masked
    after this by value; this catches the ones it never held (the agent's own settings,
    an old password, another login)."""
    mark, codec = _text_codec(data)
    body = data[len(mark) :]
    odd = body[len(body) - 1 :] if codec.startswith("utf-16") and len(body) % 2 else b""
    body = body[: len(body) - len(odd)]
    errors = "surrogatepass" if codec.startswith("utf-16") else "strict"
    try:
        text = body.decode(codec, errors)
    except UnicodeDecodeError:
        codec, errors, text = "latin-1", "strict", body.decode("latin-1")
    return mark + scrub_lines(text).encode(codec, errors) + odd


def _json(value: Any) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False) + "\n").encode()


def _file_name(path: str) -> str:
    return _SAFE_NAME.sub("_", path.replace("\\", "/").rsplit("/", 1)[-1]) or "log"


def _log_names(items: Sequence[Mapping[str, Any]]) -> list[str]:
    """The bundle's name of each log: ``logs/<kind>/<file>``, or, when another log of the
    kind has the same file name (agent.log in <install>\\logs and in <install>), the
    whole host path (``logs/agent/C/Program_Files/.../logs/agent.log``), so that none
    replaces another and each name says where the file was."""
    short = [f"logs/{item['kind']}/{_file_name(str(item['path']))}" for item in items]
    names = []
    for item, name in zip(items, short, strict=True):
        if short.count(name) == 1:
            names.append(name)
            continue
        parts = [p for p in str(item["path"]).replace("/", "\\").split("\\") if p]
        safe = [_SAFE_NAME.sub("_", p.rstrip(":")) or "_" for p in parts]
        name = f"logs/{item['kind']}/" + "/".join(safe)
        # Two paths the safe characters make alike ("a b", "a_b") still keep both.
        names.append(name if name not in names else f"{name}~{len(names)}")
    return names


@dataclass
class Bundle:
    """What goes into one host's zip, before it is written."""

    host: str
    collected_at: str
    files: dict[str, bytes] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    status: str = "unknown"
    restart: dict[str, Any] | None = None
    service: dict[str, Any] | None = None
    diagnosis: Diagnosis | None = None
    #: SF513 as diagnose saw it (also in findings.json).
    connection: Finding | None = None
    #: What was asked but not read on the host, each "what: why": the host is incomplete.
    not_read: list[str] = field(default_factory=list)
    #: Why the diagnose snippet gave nothing (its service, logs, events, settings unread).
    result_error: str | None = None
    #: The host path of each file taken from the host (the logs), by its name in the bundle.
    sources: dict[str, str] = field(default_factory=dict)
    #: Logs found but not taken (past sagefleet_diagnose_max_log_files): kind, path,
    #: size, modified (UTC) and why.
    left_out: list[dict[str, Any]] = field(default_factory=list)

    def service_words(self) -> str:
        """The service as the summary line names it: only what was read."""
        if self.service is None:
            return f"service not read: {self.result_error or 'no answer'}"
        if not self.service.get("installed"):
            return "service not installed"
        return f"service {self.service.get('state')}"

    def manifest(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "collected_at": self.collected_at,
            "sagefleet_version": __version__,
            "status": self.status,
            "not_read": self.not_read,
            "files": [
                {
                    "name": name,
                    "size": len(data),
                    "sha256": hashlib.sha256(data).hexdigest(),
                    **({"source": self.sources[name]} if name in self.sources else {}),
                }
                for name, data in sorted(self.files.items())
            ],
            "left_out": self.left_out,
            "notes": self.notes,
        }


def _settings_file(doc: Mapping[str, Any] | None, bundle: Bundle) -> None:
    if not doc:
        return
    if not doc.get("exists"):
        bundle.notes.append(f"settings: {doc.get('path')} does not exist on the host")
        return
    if doc.get("error") or doc.get("content") is None:
        bundle.not_read.append(f"settings {doc.get('path')}: {doc.get('error')}")
        return
    raw = base64.b64decode(str(doc["content"]))
    try:
        parsed = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        # Not JSON: its secrets cannot be found by name, so it is left out entirely.
        bundle.notes.append(f"settings: {doc.get('path')} is not valid JSON ({exc}); not included")
        return
    bundle.files["settings.redacted.json"] = _json(redact(parsed))


#: What to do about a log folder the WinRM account may not list.
LIST_FOLDER_FIX = (
    "grant the WinRM account read (List folder / read data) on the folder, or run the"
    " diagnosis as an account that has it"
)


def _log_folders(
    folders: Sequence[Mapping[str, Any]], bundle: Bundle, max_files: int
) -> None:
    """What each log folder left out: a folder the host could not list (not_read: its logs
    are not in the bundle), and the older logs past ``max_files`` (the manifest's left_out)."""
    seen: set[tuple[str, str]] = set()
    for folder in folders:
        key = (str(folder.get("kind")), str(folder.get("folder")).lower())
        if key in seen:
            continue  # a folder asked twice (a profile's logs.dir also given as a variable)
        seen.add(key)
        if folder.get("error"):
            bundle.not_read.append(
                f"{folder['kind']} logs in {folder['folder']}: "
                f"{str(folder['error']).rstrip('. ')}; {LIST_FOLDER_FIX}"
            )
        why = (
            f"older than the {max_files} newest {folder['filter']} in {folder['folder']}"
            f" (sagefleet_diagnose_max_log_files: {max_files})"
        )
        bundle.left_out += [
            {"kind": folder["kind"], "path": item["path"], "size": item["size"],
             "modified": item["modified"], "why": why}
            for item in folder.get("left_out") or []
        ]


def collect(
    session: HostSession,
    prepared: preflight.PreparedHost,
    options: DiagnoseOptions,
    secrets: Sequence[str],
    *,
    address: str | None = None,
) -> Bundle:
    """Run the troubleshooting sequence on one host and gather the bundle's files."""
    bundle = Bundle(host=prepared.host, collected_at=dt.datetime.now(dt.UTC).isoformat())
    bundle.files["profile.json"] = _json(options.profile)
    bundle.files["entities.json"] = _json(options.entities)
    report, document = preflight.run(session, prepared, address=address)
    found = (document or {}).get("agent") or {}
    if found.get("installed") and found.get("service_name"):
        # The profile may find the service by a pattern: the facts know its real name.
        options = dataclasses.replace(options, service_name=str(found["service_name"]))
    bundle.status = report.status
    if document is not None:
        bundle.files["facts.json"] = _json(document)
    else:
        bundle.notes.append(f"facts: not gathered ({report.error})")
    # The agent's connections first: as they are, before any restart the diagnose snippet does.
    verdict, evidence, error = (
        _connections(session, options, bundle) if report.reachable else (None, None, report.error)
    )
    result: dict[str, Any] | None = None
    if report.reachable:
        try:
            result = session.run_snippet("diagnose", options.params(), sensitive=True)
        except RemoteError as exc:
            bundle.result_error = exc.message
            bundle.not_read.append(f"service, logs, events, settings: {exc.message}")
    if result is not None:
        bundle.service = dict(result.get("service") or {})
        bundle.restart = result.get("restart")
        bundle.files["service.json"] = _json({"service": bundle.service, "restart": bundle.restart})
        events = result.get("events") or []
        # An event's message may quote a connection string as the log does.
        bundle.files["events.json"] = _json(
            {"events": redact(events), "error": result.get("events_error")}
        )
        if result.get("events_error"):
            bundle.not_read.append(f"events: {result['events_error']}")
        items: list[Mapping[str, Any]] = []
        for item in result.get("logs") or []:
            # A folder listed twice (a profile's logs.dir also given as a variable) is read once.
            key = (item["kind"], str(item["path"]).lower())
            if all((i["kind"], str(i["path"]).lower()) != key for i in items):
                items.append(item)
        for item, name in zip(items, _log_names(items), strict=True):
            bundle.sources[name] = str(item["path"])
            if item.get("content") is None:
                bundle.not_read.append(f"{item['path']}: {item.get('error')}")
                continue
            bundle.files[name] = scrub_text_file(base64.b64decode(str(item["content"])))
            if item.get("truncated"):
                bundle.notes.append(
                    f"{name}: last {options.tail_bytes} bytes of {item['size']} ({item['path']})"
                )
        _log_folders(result.get("folders") or [], bundle, options.max_files)
        _settings_file(result.get("settings"), bundle)
    findings = list(report.findings)
    if verdict is not None:
        bundle.connection = verdict.finding(prepared.lang)
        findings.append(bundle.connection)
    with_connection = dataclasses.replace(report, findings=tuple(findings))
    bundle.files["findings.json"] = _json(with_connection.to_dict())
    # What was not read quotes the host's errors: the verdict and every file repeat it.
    bundle.not_read = [mask_text(text, secrets) for text in bundle.not_read]
    if bundle.result_error is not None:
        bundle.result_error = mask_text(bundle.result_error, secrets)
    bundle.diagnosis = diagnose(
        lang=prepared.lang,
        findings=findings,
        result=result,
        verdict=verdict,
        evidence=evidence,
        options=options.connection,
        error=error,
        reachable=report.reachable,
        not_read=bundle.not_read,
        result_error=bundle.result_error,
    )
    restart = bundle.restart or {}
    if report.reachable and restart.get("requested") and not restart.get("done"):
        bundle.status = outcomes.Outcome.FAILED.value
    elif report.reachable and bundle.not_read:
        bundle.status = outcomes.Outcome.INCOMPLETE.value
    bundle.files["troubleshooting.json"] = _json(bundle.diagnosis.to_dict())
    bundle.files["troubleshooting.txt"] = bundle.diagnosis.text().encode("utf-8")
    bundle.files = {name: mask(data, secrets) for name, data in bundle.files.items()}
    return bundle


def _connections(
    session: HostSession, options: DiagnoseOptions, bundle: Bundle
) -> tuple[Verdict | None, Evidence | None, str | None]:
    """SF513 once (with the direct probes when it fails); its documents go in the bundle."""
    if options.connection is None:
        return None, None, None
    documents: list[Any] = []

    def run(params: dict[str, Any]) -> Any:
        documents.append(session.run_snippet("agent_connections", params))
        return documents[-1]

    lookup = options.connection
    if options.service_name:
        lookup = lookup.for_service(options.service_name)
    try:
        verdict, evidence = connection.look(run, lookup)
    except RemoteError as exc:
        bundle.not_read.append(f"agent connections: {exc.message}")
        return None, None, exc.message
    bundle.files["connections.json"] = _json(documents[-1])
    return verdict, evidence, None


def write_zip(bundle: Bundle, dest: Path, secrets: Sequence[str]) -> Path:
    """One zip per host, written atomically; refused if any secret survived masking."""
    if len(_searched(secrets)) < len(secrets):
        bundle.notes.append(
            f"a secret of the inventory has fewer than {MIN_SECRET_SEARCHED} characters: it is"
            " not searched for by value (it is in any text by chance); the files are masked"
            " by name (settings.json's secret members, Password=/Pwd=, JSON members named as"
            " secrets)"
        )
    # The notes and not_read quote the host's errors, the sources and left_out its paths; the
    # rest of the manifest is sagefleet's own (a short secret may stand alone in a date or a
    # size, and means nothing there).
    bundle.notes = [mask_text(n, secrets) for n in bundle.notes]
    bundle.not_read = [mask_text(n, secrets) for n in bundle.not_read]
    bundle.sources = {name: mask_text(path, secrets) for name, path in bundle.sources.items()}
    bundle.left_out = [
        {**item, "path": mask_text(item["path"], secrets), "why": mask_text(item["why"], secrets)}
        for item in bundle.left_out
    ]
    quoted = [text for item in bundle.left_out for text in (item["path"], item["why"])]
    notes = "\n".join(
        [*bundle.notes, *bundle.not_read, *bundle.sources.values(), *quoted]
    ).encode()
    for name, data in [*bundle.files.items(), ("manifest.json", notes)]:
        for secret in _searched(secrets):
            if any(pattern.search(data) for pattern, _ in _secret_forms(secret)):
                raise DiagnoseError(
                    f"{bundle.host}: a secret remains in {name}; bundle not written"
                )
    manifest = _json(bundle.manifest())
    dest.mkdir(parents=True, exist_ok=True)
    stamp = bundle.collected_at[:19].replace("-", "").replace(":", "") + "Z"
    target = dest / f"{_SAFE_NAME.sub('_', bundle.host)}-{stamp}.zip"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in sorted(bundle.files.items()):
            archive.writestr(name, data)
        archive.writestr("manifest.json", manifest)
    write_atomic(target, buffer.getvalue(), skip_unchanged=False)
    return target

"""Host profiles from every source, checked against one schema before a host is built.

Shipped profiles, profile files and ``sagefleet_sim_overrides``, all validated against
schemas/sim-profile.schema.json: docs/simulator.md, "Profiles".
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match, relevance

from sagefleet import schemas
from sagefleet.sim.host import ProfileError, load_profile, profile_names

PROFILE_VAR = "sagefleet_sim_profile"
OVERRIDES_VAR = "sagefleet_sim_overrides"
SCHEMA_FILE = "sim-profile.schema.json"
_SUFFIXES = (".yml", ".yaml")
_KINDS = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "object": "a mapping",
    "array": "a list",
    "null": "null",
}


@cache
def schema() -> dict[str, Any]:
    return schemas.load(SCHEMA_FILE)


@cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(schema())


def _field(path: Iterable[Any]) -> str:
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else str(step))
    return text or "(top level)"


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def _describe(error: ValidationError) -> tuple[str, str]:
    """(field, problem) of one schema error, in words a profile author can act on."""
    path = list(error.absolute_path)
    value = error.instance
    keyword = error.validator
    if keyword == "additionalProperties" and isinstance(value, Mapping):
        known = sorted((error.schema.get("properties") or {}).keys())
        unknown = sorted(set(value) - set(known)) or [None]
        hint = f" (known: {', '.join(known)})" if known else ""
        return _field([*path, unknown[0]]), f"unknown field{hint}"
    if keyword == "required":
        missing = str(error.message).split("'")[1] if "'" in str(error.message) else "?"
        return _field([*path, missing]), "missing (required)"
    if keyword == "propertyNames":
        return _field(path), f"{_show(value)}: a key does not have the expected form"
    if keyword in ("enum", "const"):
        options = error.validator_value if keyword == "enum" else [error.validator_value]
        shown = ", ".join(_show(o) for o in options)
        return _field(path), f"{_show(value)} is not one of {shown}"
    if keyword in ("oneOf", "anyOf"):
        expected = error.schema.get("description") or "another kind of value"
        return _field(path), f"{_show(value)} is not valid: expected {expected}"
    if keyword == "type":
        wanted = error.validator_value
        kinds = wanted if isinstance(wanted, list) else [wanted]
        wanted_text = " or ".join(_KINDS.get(str(k), str(k)) for k in kinds)
        hint = ""
        if (
            "string" in str(wanted)
            and isinstance(value, int | float)
            and not isinstance(value, bool)
        ):
            hint = ' (quote it in YAML: "11.02" stays 11.02, 11.20 would become 11.2)'
        return _field(path), f"{_show(value)} is not {wanted_text}{hint}"
    if keyword == "pattern":
        pattern = error.validator_value
        return _field(path), f"{_show(value)} does not have the expected form ({pattern})"
    if keyword in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        return _field(path), f"{_show(value)} is out of range ({keyword} {error.validator_value})"
    return _field(path), f"{_show(value)}: {error.message}"


def check(data: Any, origin: str) -> None:
    """Raise ProfileError for the first problem of ``data``: origin, field, value, one line."""
    if not isinstance(data, Mapping):
        raise ProfileError(f"{origin}: a profile must be a mapping of fields, not {_show(data)}")
    errors = list(_validator().iter_errors(data))
    if not errors:
        return
    # Shorter paths first, then jsonschema's own relevance (within a oneOf, the branch of
    # the value's type: an unknown key of a mapping, not "not a string").
    error = best_match(errors, key=lambda e: (-len(list(e.absolute_path)), *relevance(e)))
    if error is None:  # pragma: no cover - iter_errors gave some
        return
    field, problem = _describe(error)
    raise ProfileError(f"{origin}: field {field}: {problem}")


def merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``overrides`` applied over ``base``: mappings merge key by key, anything else replaces."""
    merged = copy.deepcopy(dict(base))
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def with_overrides(profile: Mapping[str, Any], overrides: Any, host: str) -> dict[str, Any]:
    """The host's profile with its ``sagefleet_sim_overrides``, validated (the host named)."""
    if overrides is None or overrides == {}:
        return dict(profile)
    origin = f"host {host}: {OVERRIDES_VAR} (over profile {profile.get('profile')!r})"
    if not isinstance(overrides, Mapping):
        raise ProfileError(f"{origin}: must be a mapping of profile fields, not {_show(overrides)}")
    merged = merge(profile, {str(k): v for k, v in overrides.items()})
    # The profile alone is valid: whatever fails now came from the overrides.
    check(merged, origin)
    return merged


def is_path(reference: str) -> bool:
    """Whether a profile reference names a file rather than a shipped profile."""
    return reference.lower().endswith(_SUFFIXES) or "/" in reference or "\\" in reference


def read_file(path: Path) -> dict[str, Any]:
    """A custom profile file, validated; its name is its ``profile:`` field or its file name."""
    origin = f"profile file {path}"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProfileError(f"{origin}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(f"{origin}: cannot be read ({exc})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ProfileError(f"{origin}: YAML syntax error{where}: {problem}") from None
    check(data, origin)
    profile = dict(data)
    name = str(profile.get("profile") or path.stem)
    profile["profile"] = name
    return profile


class ProfileLibrary:
    """The profiles a fleet may use: the shipped ones and custom files, by name."""

    def __init__(self, files: Iterable[str | Path] = ()) -> None:
        self._custom: dict[str, dict[str, Any]] = {}
        self._paths: dict[str, Path] = {}
        shipped = set(profile_names())
        for item in files:
            path = Path(item).expanduser().resolve()
            data = read_file(path)
            name = data["profile"]
            if name in shipped:
                raise ProfileError(
                    f"profile file {path}: its name {name!r} is a shipped profile's; "
                    "rename the file (or its profile: field)"
                )
            if name in self._custom and self._paths[name] != path:
                raise ProfileError(
                    f"profile file {path}: the name {name!r} is already taken by "
                    f"{self._paths[name]}"
                )
            self._custom[name] = data
            self._paths[name] = path

    @property
    def custom_names(self) -> list[str]:
        return list(self._custom)

    @property
    def files(self) -> list[Path]:
        return list(self._paths.values())

    def get(self, reference: str) -> dict[str, Any]:
        """A copy of the profile a host names: a custom or shipped name, or a file path."""
        if reference in self._custom:
            return copy.deepcopy(self._custom[reference])
        if is_path(reference):
            path = Path(reference).expanduser().resolve()
            for name, known in self._paths.items():
                if known == path:
                    return copy.deepcopy(self._custom[name])
            return read_file(path)
        try:
            return load_profile(reference)
        except ProfileError:
            names = ", ".join([*profile_names(), *self._custom])
            raise ProfileError(
                f"unknown simulator profile {reference!r} (known: {names}; "
                "or a path to a profile file, or --profile-file)"
            ) from None

    def reference(self, name: str) -> str:
        """How an inventory names the profile so that it can be served again on its own."""
        path = self._paths.get(name)
        return str(path) if path is not None else name

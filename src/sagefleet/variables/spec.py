"""The record of one inventory variable (``Var``) and of a deprecated name."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


#: No default: the variable is unset unless the inventory gives it.
UNSET: Any = _Unset()

#: The release in which a deprecated name stops being read.
DEPRECATED_UNTIL = "0.2.0"

#: The Ansible collection whose release that is (what Ansible's deprecation notices name).
COLLECTION = "sagefleet.fleet"


class DeprecatedVariable(FutureWarning):
    """A variable was given under its retired name (shown by default, once per text)."""


@dataclass(frozen=True)
class Var:
    """One inventory variable. ``type`` is Ansible's (str, int, float, bool, list, dict,
    path, raw); ``doc`` one string per paragraph."""

    name: str
    type: str
    doc: tuple[str, ...]
    default: Any = UNSET
    #: What a role's defaults/main.yml sets when it is not ``default`` (a template).
    role_default: Any = UNSET
    elements: str | None = None
    choices: tuple[Any, ...] | None = None
    low: float | None = None
    high: float | None = None
    #: The words of the error: "must be <what> from <low> to <high>".
    what: str | None = None
    secret: bool = False
    #: Roles whose argument_specs.yml declares it, and whose defaults/main.yml sets it.
    roles: tuple[str, ...] = ()
    defaults_in: tuple[str, ...] = ()
    #: The one-line comment above it in defaults/main.yml (default: its first doc line).
    note: str | None = None
    #: Module options standing for it (module -> option), and their retired names.
    options: Mapping[str, str] = field(default_factory=dict)
    option_aliases: tuple[str, ...] = ()
    #: The front doors that read it (docs only).
    doors: tuple[str, ...] = ()
    #: Set on a retired name: the variable it stands for.
    replaced_by: str | None = None
    #: An empty string means "unset" (a role default of "").
    empty_is_unset: bool = False
    #: What to do about a refused value (default: see it in its role's README).
    fix: str | None = None

    @property
    def has_default(self) -> bool:
        return self.default is not UNSET

    def message(self) -> str:
        """What a refused value must be."""
        if self.choices and self.type == "list":
            return "must be a list of " + ", ".join(str(c) for c in self.choices)
        if self.choices:
            return "must be " + " or ".join(str(c) for c in self.choices)
        what = self.what or {
            "int": "an integer",
            "float": "a number",
            "bool": "true or false",
            "list": "a list",
            "dict": "a mapping",
        }.get(self.type, "a string")
        if self.low is not None and self.high is not None:
            return f"must be {what} from {_num(self.low)} to {_num(self.high)}"
        if self.low is not None:
            return f"must be {what} >= {_num(self.low)}"
        return f"must be {what}"


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def deprecated(old: str, new: Var, *, roles: tuple[str, ...] = ()) -> Var:
    """A retired name of ``new``: read for one release, with a warning naming ``new``."""
    return Var(
        old,
        new.type,
        (f"Deprecated: use {new.name} (read until {DEPRECATED_UNTIL}, and then no more).",),
        elements=new.elements,
        choices=new.choices,
        low=new.low,
        high=new.high,
        what=new.what,
        secret=new.secret,
        roles=roles,
        replaced_by=new.name,
    )


def role_var(
    role: str,
    name: str,
    type: str,
    *doc: str,
    also: tuple[str, ...] = (),
    option: bool = False,
    **fields: Any,
) -> Var:
    """A variable declared by the roles ``also`` and ``role`` and set in ``role``'s
    defaults/main.yml; ``option``: the module named as the role takes it, named without
    the role's prefix (``sagefleet_diagnose_dest`` is the sagefleet_diagnose module's
    ``dest``)."""
    options: dict[str, str] = {}
    if option:
        if not name.startswith(f"{role}_"):
            raise ValueError(f"{name}: an option of module {role} needs its prefix")
        options[role] = name.removeprefix(f"{role}_")
    return Var(
        name, type, doc, roles=(*also, role), defaults_in=(role,), options=options, **fields
    )


def seconds(name: str, *doc: str, type: str = "int", **fields: Any) -> Var:
    """A duration in seconds (its bounds in ``fields``), refused as "a number of seconds"."""
    return Var(name, type, doc, what="a number of seconds", **fields)

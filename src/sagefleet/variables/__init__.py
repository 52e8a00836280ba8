"""Every inventory variable sagefleet reads, declared once, and the one reader of them.

Each ``Var`` gives a variable's name, type, default, bounds, choices, doc, whether
it is a secret, the roles that declare it and the module options standing for it.
The roles' ``argument_specs.yml`` and ``defaults/main.yml``, the module stubs'
options and the role READMEs are generated from it (``python -m sagefleet.ansible.roledocs``,
tests keep them in step); every front door reads values through ``value()``.
Names and retired names: docs/architecture.md, "Glossary".
"""

from __future__ import annotations

import contextlib
import math
import re
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from typing import Any

from sagefleet.errors import InputError
from sagefleet.variables.spec import (
    COLLECTION as COLLECTION,
)
from sagefleet.variables.spec import (
    DEPRECATED_UNTIL as DEPRECATED_UNTIL,
)
from sagefleet.variables.spec import (
    UNSET as UNSET,
)
from sagefleet.variables.spec import (
    DeprecatedVariable as DeprecatedVariable,
)
from sagefleet.variables.spec import (
    Var as Var,
)
from sagefleet.variables.spec import (
    deprecated as deprecated,
)

#: The sagefleet_* names the shipped playbooks and roles register or set: results, not
#: inventory variables (tests/unit/test_unknown_variables.py reads them from the YAML).
RESULTS = frozenset(
    {
        "sagefleet_agent_package_result",
        "sagefleet_agent_result",
        "sagefleet_agent_wave",
        "sagefleet_agent_wave_verify",
        "sagefleet_deploy_report",
        "sagefleet_deploy_run",
        "sagefleet_diagnose_result",
        "sagefleet_discover_result",
        "sagefleet_host_info_result",
        "sagefleet_host_info_run",
        "sagefleet_preflight_fleet",
        "sagefleet_preflight_report",
        "sagefleet_preflight_result",
        "sagefleet_settings_restart",
        "sagefleet_settings_result",
        "sagefleet_summary",
        "sagefleet_verify_folder",
        "sagefleet_verify_report",
        "sagefleet_verify_run",
    }
)


@cache
def declared_names() -> frozenset[str]:
    """Every name sagefleet declares: its variables, their retired names, and the names
    no longer read (declarations.RETIRED, refused with what to do instead)."""
    from sagefleet.variables.declarations import RETIRED

    return frozenset(_index()) | frozenset(RETIRED)


def unknown_variables(names: Iterable[str]) -> list[str]:
    """The ``sagefleet_*`` names among ``names`` that sagefleet neither declares nor sets."""
    known = declared_names() | RESULTS
    return sorted(n for n in names if n.startswith("sagefleet_") and n not in known)


@cache
def misspelt(name: str) -> str | None:
    """The declared variable ``name`` is a slip of (at most two letters added, dropped,
    changed or swapped after the prefix), or None. Other ``sagefleet_*`` names are the
    inventory's own (``sagefleet_sql_password_<entity>``, the simulator's, ...)."""
    suffix = name.removeprefix("sagefleet_")
    best: tuple[int, str] | None = None
    for other in sorted(n for n, v in _index().items() if v.replaced_by is None):
        wanted = other.removeprefix("sagefleet_")
        if len(wanted) < 6 or abs(len(wanted) - len(suffix)) > 2:
            continue
        distance = _edits(suffix, wanted)
        if distance <= 2 and (best is None or distance < best[0]):
            best = (distance, other)
    return best[1] if best else None


def _edits(a: str, b: str) -> int:
    """Letters added, dropped, changed or swapped (two neighbours) from ``a`` to ``b``."""
    previous, row = None, list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, y in enumerate(b, 1):
            current[j] = min(row[j] + 1, current[j - 1] + 1, row[j - 1] + (x != y))
            if previous is not None and i > 1 and j > 1 and x == b[j - 2] and a[i - 2] == y:
                current[j] = min(current[j], previous[j - 2] + 1)
        previous, row = row, current
    return row[-1]


def unknown_errors(host: str | None, names: Iterable[str]) -> list[InputError]:
    """An error for each ``sagefleet_*`` name that is a slip of a declared variable: it is
    not read, and that variable's default would stay in force unseen. Names only: the
    value may be a password."""
    errors = []
    for name in unknown_variables(names):
        meant = misspelt(name)
        if meant is not None:
            errors.append(
                InputError(
                    f"not a sagefleet variable, so not read (a slip of {meant}?)",
                    host=host,
                    field=name,
                    fix=f"rename it {meant}",
                )
            )
    return errors


def declared() -> dict[str, Var]:
    """Every variable by name, retired names included (sagefleet.variables.declarations)."""
    return _index()


@cache
def _index() -> dict[str, Var]:
    from sagefleet.variables.declarations import VARIABLES

    found: dict[str, Var] = {}
    for var in VARIABLES:
        if var.name in found:
            raise ValueError(f"{var.name} is declared twice")
        found[var.name] = var
    return found


def get(name: str) -> Var:
    return _index()[name]


def aliases_of(name: str) -> tuple[str, ...]:
    """The retired names of ``name``."""
    return tuple(v.name for v in _index().values() if v.replaced_by == name)


def for_role(role: str) -> list[Var]:
    return [v for v in _index().values() if role in v.roles]


def for_module(module: str) -> list[tuple[str, Var]]:
    """(option, variable) of every module option standing for a variable."""
    return [(v.options[module], v) for v in _index().values() if module in v.options]


# -- reading ---------------------------------------------------------------------------


def _warn(text: str) -> None:
    warnings.warn(text, DeprecatedVariable, stacklevel=3)


#: Where deprecation warnings go: Python's warnings, or what :func:`told_deprecations` collects.
warn: Callable[[str], None] = _warn


@contextmanager
def told_deprecations() -> Iterator[list[str]]:
    """Collect, each text once, the deprecation warnings given inside the block instead of
    warning (an Ansible action shows them as Ansible's own deprecations)."""
    global warn
    told: list[str] = []
    previous = warn

    def collect(text: str) -> None:
        if text not in told:
            told.append(text)

    warn = collect
    try:
        yield told
    finally:
        warn = previous


def given(host: str | None, variables: Mapping[str, Any], name: str) -> tuple[str, Any]:
    """(the name it was given under, its value) of variable ``name``, or (name, UNSET).

    A retired name, when set, is read in its place (as it was before), with a warning
    naming the new one.
    """
    for alias in aliases_of(name):
        if variables.get(alias) is not None:
            warn(
                f"{host + ': ' if host else ''}{alias} is deprecated and read until "
                f"{DEPRECATED_UNTIL} only: rename it {name}"
            )
            return alias, variables[alias]
    var = _index().get(name)
    if name not in variables or variables[name] is None:
        return name, UNSET
    if var is not None and var.empty_is_unset and variables[name] == "":
        return name, UNSET
    return name, variables[name]


def given_or_none(host: str | None, variables: Mapping[str, Any], name: str) -> Any:
    """The value given for ``name`` (or a retired name of it), unchecked: for the variables
    whose own parser checks them and says what is wrong (None: unset)."""
    found = given(host, variables, name)[1]
    return None if found is UNSET else found


def with_current_names(host: str | None, variables: Mapping[str, Any]) -> dict[str, Any]:
    """``variables`` with every retired name that is set moved onto its new name."""
    merged = {k: v for k, v in variables.items() if not _retired(k)}
    for var in _index().values():
        if var.replaced_by is None and aliases_of(var.name):
            used, found = given(host, variables, var.name)
            if found is not UNSET:
                merged[var.name] = found
    return merged


def _retired(name: str) -> bool:
    var = _index().get(name)
    return var is not None and var.replaced_by is not None


def value(
    host: str | None,
    variables: Mapping[str, Any],
    name: str,
    default: Any = UNSET,
) -> Any:
    """Variable ``name`` of a host: checked against its declaration, or its default.

    Raises InputError naming the host, the variable (as given), the value (masked
    for a secret) and what to do. ``default`` replaces the declared default.
    """
    var = _index()[name]
    used, found = given(host, variables, name)
    if found is UNSET:
        fallback = var.default if default is UNSET else default
        return None if fallback is UNSET else fallback
    return check(host, var, found, field=used)


_WHOLE = re.compile(r"^[+-]?\d+$")
#: The words Ansible's argument spec reads as booleans (module_utils.parsing.convert_bool).
_BOOLEANS = {
    **dict.fromkeys(("y", "yes", "on", "1", "true", "t"), True),
    **dict.fromkeys(("n", "no", "off", "0", "false", "f"), False),
}


def _as_declared(var: Var, found: Any) -> Any:
    """A number or a boolean as a command line's -e gives it ("600", "0.5", "false": text)
    read as the declaration wants, as Ansible's own argument spec reads it; anything else
    as it is."""
    if not isinstance(found, str):
        return found
    text = found.strip()
    if var.type == "int" and _WHOLE.match(text):
        return int(text)
    if var.type == "bool" and text.lower() in _BOOLEANS:
        return _BOOLEANS[text.lower()]
    if var.type == "float":
        with contextlib.suppress(ValueError):
            number = float(text)
            if math.isfinite(number):
                return number
    return found


def check(host: str | None, var: Var, found: Any, *, field: str | None = None) -> Any:
    """``found`` as variable ``var`` takes it: YAML gives the types, and a number or a
    boolean given as text (-e) is read as one; refused naming the value as given."""
    given_as, found = found, _as_declared(var, found)
    ok = _TYPE_CHECKS.get(var.type, _any)(found, var)
    if ok and var.choices is not None:  # a list's choices are its items' (as Ansible's)
        ok = (
            all(item in var.choices for item in found)
            if var.type == "list"
            else (found in var.choices)
        )
    if ok and isinstance(found, int | float) and not isinstance(found, bool):
        ok = (var.low is None or found >= var.low) and (var.high is None or found <= var.high)
    if not ok:
        raise InputError(
            var.message(),
            host=host,
            field=field or var.name,
            value="********" if var.secret else repr(given_as)[:80],
            fix=None if var.replaced_by else _fix(var),
        )
    return found


def _fix(var: Var) -> str | None:
    if var.fix:
        return var.fix
    if var.roles:
        return f"see {var.name} in the README of role {var.roles[0]}"
    return None


def _any(found: Any, var: Var) -> bool:
    return True


def _is_int(found: Any, var: Var) -> bool:
    return isinstance(found, int) and not isinstance(found, bool)


def _is_number(found: Any, var: Var) -> bool:
    return isinstance(found, int | float) and not isinstance(found, bool)


def _is_list(found: Any, var: Var) -> bool:
    if not isinstance(found, list):
        return False
    if var.elements == "str":
        return all(isinstance(item, str) and item for item in found)
    if var.elements == "int":
        return all(_is_int(item, var) for item in found)
    if var.elements == "dict":
        return all(isinstance(item, Mapping) for item in found)
    return True


_TYPE_CHECKS: dict[str, Callable[[Any, Var], bool]] = {
    "str": lambda found, var: isinstance(found, str),
    "path": lambda found, var: isinstance(found, str),
    "int": _is_int,
    "float": _is_number,
    "bool": lambda found, var: isinstance(found, bool),
    "list": _is_list,
    "dict": lambda found, var: isinstance(found, Mapping),
}


# -- what is generated from it ----------------------------------------------------------


def spec_option(var: Var) -> dict[str, Any]:
    """The variable as an option of a role's argument spec."""
    option: dict[str, Any] = {"type": var.type}
    if var.elements:
        option["elements"] = var.elements
    if var.choices:
        option["choices"] = list(var.choices)
    if var.secret:
        option["no_log"] = True
    if var.has_default:
        option["default"] = var.default
    option["description"] = list(var.doc) if len(var.doc) > 1 else var.doc[0]
    return option


#: Modules whose options carry the variables' defaults (their role passes each one);
#: in the others an option left out leaves the host's variable in force.
MODULES_WITH_DEFAULTS = frozenset({"sagefleet_diagnose"})


def _is_template(value: Any) -> bool:
    return isinstance(value, str) and "{{" in value


def module_spec(module: str) -> dict[str, dict[str, Any]]:
    """The argument spec of a module's options that stand for variables."""
    spec: dict[str, dict[str, Any]] = {}
    for option, var in for_module(module):
        rules: dict[str, Any] = {"type": var.type}
        if var.elements:
            rules["elements"] = var.elements
        if var.choices:
            rules["choices"] = list(var.choices)
        if module in MODULES_WITH_DEFAULTS:
            if var.has_default and not _is_template(var.default):
                rules["default"] = var.default
            else:
                rules["required"] = True
        if var.option_aliases:
            rules["aliases"] = list(var.option_aliases)
            rules["deprecated_aliases"] = [
                {"name": alias, "version": DEPRECATED_UNTIL, "collection_name": COLLECTION}
                for alias in var.option_aliases
            ]
        spec[option] = rules
    return spec


def module_doc_options(module: str) -> dict[str, dict[str, Any]]:
    """The module stub's documentation of those options."""
    documented: dict[str, dict[str, Any]] = {}
    for option, rules in module_spec(module).items():
        var = next(v for o, v in for_module(module) if o == option)
        lines = list(var.doc)
        if module not in MODULES_WITH_DEFAULTS:
            shown = "none" if not var.has_default else _shown(var.default)
            lines.append(f"Default C({var.name}), else {shown}.")
        entry: dict[str, Any] = {"description": lines}
        entry.update({k: v for k, v in rules.items() if k != "deprecated_aliases"})
        documented[option] = entry
    return documented


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if value == []:
        return "none"
    return str(value)


def argument_vars(module: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """The variables a module's given arguments set (an argument left out sets none)."""
    return {
        var.name: args[option] for option, var in for_module(module) if args.get(option) is not None
    }


def read_by(door: str) -> list[str]:
    """Every variable a front door reads (its ``doors``), and their retired names."""
    names: list[str] = []
    for var in _index().values():
        if door in var.doors:
            names += [var.name, *aliases_of(var.name)]
    return names


def is_retired(name: str | None) -> bool:
    """Whether ``name`` is a deprecated name of another variable."""
    return name is not None and _retired(name)

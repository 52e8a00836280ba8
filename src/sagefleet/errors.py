"""Errors shared by every front door.

Every error a user can act on carries where it happened (host, entity, field),
the offending value (secrets masked by the caller) and what to do about it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any


class SagefleetError(Exception):
    """Base class of every error sagefleet raises on purpose."""


class InputError(SagefleetError):
    """Bad user input, detected on the bastion before any host is touched."""

    def __init__(
        self,
        message: str,
        *,
        host: str | None = None,
        entity: str | None = None,
        field: str | None = None,
        value: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.message, self.fix = message, fix
        self.host, self.entity, self.field, self.value = host, entity, field, value
        super().__init__(self.render())

    def said_of(self, field: str | None, host: str | None = None) -> InputError:
        """The same error said of ``field`` (the inventory variable an option stands for)."""
        return InputError(
            self.message,
            host=host or self.host,
            entity=self.entity,
            field=field,
            value=self.value,
            fix=self.fix,
        )

    def render(self) -> str:
        where = ", ".join(
            f"{label} {item!s}"
            for label, item in (("host", self.host), ("entity", self.entity), ("field", self.field))
            if item is not None
        )
        text = f"{where}: {self.message}" if where else self.message
        if self.value is not None:
            text += f" (value: {self.value})"
        if self.fix:
            text += f". Fix: {self.fix}"
        return text


def field_error(
    host: str | None, field: str, value: Any, message: str, fix: str | None = None
) -> InputError:
    """``message`` about one field's value (shown as its repr)."""
    return InputError(message, host=host, field=field, value=repr(value), fix=fix)


def mapping_items(
    raw: Any, *, host: str | None, field: str, expected: str, fix: str | None = None
) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """The items of ``field``, a non-empty list of mappings, each with where it stands
    (``field[i]``); ``expected`` says what the list must be."""
    if not isinstance(raw, list) or not raw:
        raise InputError(
            f"must be {expected}", host=host, field=field, value=repr(raw)[:80], fix=fix
        )
    for index, item in enumerate(raw):
        where = f"{field}[{index}]"
        if not isinstance(item, Mapping):
            raise InputError("must be a mapping", host=host, field=where, value=repr(item)[:80])
        yield where, item


def unreadable(what: str, path: object, exc: OSError) -> InputError:
    """A file that could not be read: what it is, where, and the system's reason."""
    reason = exc.strerror or exc
    return InputError(
        f"cannot read {what}: {reason}", value=str(path), fix="check the path and its permissions"
    )


def shown(names: list[str], most: int = 10) -> str:
    """At most ``most`` of ``names`` for one line, and how many more there are."""
    more = f" and {len(names) - most} more" if len(names) > most else ""
    return ", ".join(names[:most]) + more


def refusal(errors: Sequence[object]) -> str:
    """What a run says when it refuses its inputs before contacting any host: every error,
    one a line (the playbooks' first task, doctor, sagefleet validate)."""
    lines = "\n".join(f"- {e}" for e in errors)
    return f"{len(errors)} input error(s); no host was contacted:\n{lines}"

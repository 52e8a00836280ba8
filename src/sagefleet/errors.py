"""Errors shared by every front door.

Every error a user can act on carries where it happened (host, entity, field),
the offending value (secrets masked by the caller) and what to do about it.
"""

from __future__ import annotations


class SagefleetError(Exception):
    """Base class of every error sagefleet raises on purpose."""


class InputError(SagefleetError):
    """Bad user input, detected on the controller before any host is touched."""

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
        self.host = host
        self.entity = entity
        self.field = field
        self.value = value
        self.fix = fix
        self.message = message
        super().__init__(self.render())

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

"""Agent versions as Windows reports them, compared the one way.

A program's ``ProductVersion`` is free text: the same release reads ``3.2.0``,
``3.2.0.0`` (a four-part assembly version) or ``3.2.0+1a2b3c4`` (the .NET SDK
appends the commit as build metadata since .NET 8). Every comparison of an
agent version (deploy plan, health gate, rollback proof, checks, verify) goes
through :func:`same`, so none of them reads "3.2.0.0" as a different version
than "3.2.0".
"""

from __future__ import annotations

import re

_BUILD_METADATA = re.compile(r"\+.*$", re.S)


def normalize(version: str | None) -> str | None:
    """The comparable form: trimmed, lower-case, without ``+<build metadata>``, without
    trailing ``.0`` components (``3.2.0.0`` → ``3.2``). None or blank gives None."""
    if version is None:
        return None
    text = _BUILD_METADATA.sub("", str(version).strip()).strip().lower()
    if not text:
        return None
    parts = text.split(".")
    while len(parts) > 1 and re.fullmatch(r"0+", parts[-1]):
        parts.pop()
    return ".".join(parts)


def same(left: str | None, right: str | None) -> bool:
    """Whether two reported versions are the same release (None equals only None)."""
    return normalize(left) == normalize(right)


def older(left: str | None, right: str | None) -> bool | None:
    """Whether ``left`` is an older release than ``right``; None when either is not a
    dotted number (``3.2.0-beta``, None): their order cannot be told."""
    parts = []
    for version in (normalize(left), normalize(right)):
        if version is None or not re.fullmatch(r"\d+(\.\d+)*", version):
            return None
        parts.append(tuple(int(p) for p in version.split(".")))
    return parts[0] < parts[1]

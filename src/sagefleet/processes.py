"""Processes of the bastion: whether one is still alive, and what it runs."""

from __future__ import annotations

import os


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (one we may not signal is alive)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours is not alive
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().split(") ")[-1].split()[0] != "Z"
    except OSError:
        return True


def command_line(pid: int) -> list[str] | None:
    """The arguments process ``pid`` was started with; None when they cannot be read (the
    process is gone, a zombie, or hidden from us)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as stream:
            raw = stream.read()
    except OSError:
        return None
    return [os.fsdecode(arg) for arg in raw.split(b"\0")[:-1]] or None

"""The project's Ansible plugins as the unit tests import them."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def plugin(name: str) -> ModuleType:
    """An action plugin module of the project, imported from its file."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "action_plugins" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module

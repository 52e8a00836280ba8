"""Reading the vendor's settings.json: from a file, or from the vendor package (Setup.zip).

Read as it is, in any layout (docs/settings.md, "The vendor's file of an entity").
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

from sagefleet.errors import InputError, unreadable
from sagefleet.settings.jsonio import MAX_JSON_BYTES, load_json_file, loads_strict

SETTINGS_NAME = "settings.json"


def _check_root(document: Any, source: str) -> Any:
    if not isinstance(document, dict | list):
        raise InputError(
            f"the top level is {type(document).__name__}, not a JSON object or list",
            value=source,
            fix="use the settings.json the vendor's form produced, unchanged",
        )
    return document


def load_vendor_settings(path: str | os.PathLike[str]) -> Any:
    """The document of a vendor settings.json file; InputError (file named) when unusable."""
    return _check_root(load_json_file(path), str(path))


def load_vendor_package(path: str | os.PathLike[str]) -> tuple[Any, str]:
    """The settings.json inside a vendor package, and where it was found (``zip!member``).

    The package must hold exactly one file named settings.json (any folder, any
    case): with several, which one the installer reads is not known.
    """
    source = str(path)
    try:
        with zipfile.ZipFile(path) as package:
            members = [
                info
                for info in package.infolist()
                if not info.is_dir()
                and info.filename.replace("\\", "/").rsplit("/", 1)[-1].lower() == SETTINGS_NAME
            ]
            if len(members) != 1:
                found = ", ".join(sorted(m.filename for m in members)) or "none"
                raise InputError(
                    f"the package holds {len(members)} {SETTINGS_NAME} file(s) ({found}), "
                    "one was expected",
                    value=source,
                    fix="give the Setup.zip the vendor's form produced for this connection, or "
                    f"its {SETTINGS_NAME} with vendor_settings",
                )
            member = members[0]
            if member.file_size > MAX_JSON_BYTES:
                raise InputError(
                    f"{member.filename} is {member.file_size} bytes, more than the "
                    f"{MAX_JSON_BYTES} allowed",
                    value=source,
                    fix="check that this is the vendor's package",
                )
            with package.open(member) as handle:
                raw = handle.read(MAX_JSON_BYTES + 1)
    except FileNotFoundError:
        raise InputError(
            "the package does not exist", value=source, fix="check the path of the Setup.zip"
        ) from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError) as exc:
        raise InputError(
            f"the package is not a readable zip archive ({exc})",
            value=source,
            fix="give the Setup.zip as downloaded from the vendor's form",
        ) from None
    except OSError as exc:
        raise unreadable("the package", source, exc) from None
    where = f"{source}!{member.filename}"
    return _check_root(loads_strict(raw, source=where), where), where


def resolve(path: str, base_dir: Path) -> Path:
    """An inventory path: ``~`` expanded, relative paths taken from ``base_dir``."""
    resolved = Path(path).expanduser()
    return resolved if resolved.is_absolute() else base_dir / resolved

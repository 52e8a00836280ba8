"""Build the sagefleet.fleet Ansible collection from the project's own files.

``make collection`` runs ``python -m sagefleet.ansible.collection``: docs/operations.md,
"The Ansible collection `sagefleet.fleet`".
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from sagefleet import __version__
from sagefleet.errors import InputError

NAMESPACE = "sagefleet"
NAME = "fleet"
#: Project folder -> folder in the collection, files copied as they are.
PLUGIN_DIRS = {
    "library": "plugins/modules",
    "action_plugins": "plugins/action",
    "callback_plugins": "plugins/callback",
    # Used only where an integrator enables it (vars_plugins_enabled), as the project does.
    "vars_plugins": "plugins/vars",
}
ROLE_PREFIX = "sagefleet_"
# ansible-galaxy's rule for namespaces, collection and role names.
_GALAXY_NAME = re.compile(r"^[a-z](?:[a-z0-9]|_(?!_))*$")


def role_name(project_role: str) -> str:
    """``sagefleet_preflight`` is ``sagefleet.fleet.preflight`` in the collection."""
    name = project_role.removeprefix(ROLE_PREFIX)
    if not _GALAXY_NAME.match(name):
        raise InputError(
            "not a valid role name in a collection",
            field="roles",
            value=project_role,
            fix="lowercase letters, digits and single underscores, starting with a letter",
        )
    return name


def tarball_name(version: str = __version__) -> str:
    return f"{NAMESPACE}-{NAME}-{version}.tar.gz"


def _galaxy(root: Path) -> dict[str, object]:
    data = yaml.safe_load((root / "collection" / "galaxy.yml").read_text(encoding="utf-8"))
    for key in ("namespace", "name"):
        if not _GALAXY_NAME.match(str(data.get(key, ""))):
            raise InputError(
                "not a valid galaxy name", field=f"galaxy.yml {key}", value=str(data.get(key))
            )
    if str(data.get("version")) != __version__:
        raise InputError(
            "the collection's version is not the sagefleet package's",
            field="collection/galaxy.yml version",
            value=str(data.get("version")),
            fix=f"set it to {__version__} (pyproject.toml)",
        )
    return dict(data)


def _copy_tree(source: Path, dest: Path) -> None:
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def assemble(root: Path, dest: Path) -> Path:
    """Lay the collection out under ``dest``; returns the collection's folder."""
    root = Path(root)
    if not (root / "collection" / "galaxy.yml").is_file() or not (root / "roles").is_dir():
        raise InputError(
            "not a sagefleet checkout (collection/galaxy.yml, roles/)",
            field="--root",
            value=str(root),
            fix="run it from the repository, as `make collection` does",
        )
    target = Path(dest) / "ansible_collections" / NAMESPACE / NAME
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    _galaxy(root)
    for item in sorted((root / "collection").iterdir()):
        if item.is_dir():
            _copy_tree(item, target / item.name)
        else:
            shutil.copy2(item, target / item.name)
    (target / "requirements.txt").write_text(f"sagefleet=={__version__}\n", encoding="utf-8")
    for source, inside in PLUGIN_DIRS.items():
        folder = target / inside
        folder.mkdir(parents=True, exist_ok=True)
        for path in sorted((root / source).glob("*.py")):
            shutil.copy2(path, folder / path.name)
    for role in sorted(p for p in (root / "roles").iterdir() if p.is_dir()):
        _copy_tree(role, target / "roles" / role_name(role.name))
    return target


def build(root: Path, out: Path, ansible_galaxy: str | None = None) -> Path:
    """Assemble under ``out/src`` and build the tarball into ``out``; returns its path."""
    out = Path(out)
    collection = assemble(root, out / "src")
    galaxy = ansible_galaxy or str(Path(sys.executable).parent / "ansible-galaxy")
    if not Path(galaxy).exists():
        galaxy = shutil.which("ansible-galaxy") or galaxy
    process = subprocess.run(
        [galaxy, "collection", "build", str(collection), "--output-path", str(out), "--force"],
        capture_output=True,
        text=True,
        check=False,
    )
    tarball = out / tarball_name()
    if process.returncode != 0 or not tarball.is_file():
        raise InputError(
            "ansible-galaxy collection build failed: "
            + (process.stderr or process.stdout).strip()[-2000:],
            field="collection",
            value=str(collection),
        )
    return tarball


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sagefleet.ansible.collection",
        description="Build the sagefleet.fleet Ansible collection tarball from a checkout.",
    )
    parser.add_argument("--root", default=".", help="the sagefleet checkout (default: .)")
    parser.add_argument(
        "--out", default="build/collection", help="build folder (default: build/collection)"
    )
    args = parser.parse_args(argv)
    try:
        tarball = build(Path(args.root), Path(args.out))
    except InputError as exc:
        print(f"sagefleet.ansible.collection: {exc}", file=sys.stderr)
        return 1
    print(tarball)
    print(f"install it: ansible-galaxy collection install {tarball} -p <collections path>")
    print(f"and on the bastion: pip install sagefleet=={__version__}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

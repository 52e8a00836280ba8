"""The shipped stand-in installers (src/sagefleet/stubs) are what tests/fixtures/pe/finish.py
makes of their compiled programs: the part of build.sh that needs no cross-compiler is
checked against its source, so a change to finish.py without a rebuild fails here."""

from __future__ import annotations

import importlib.util
from importlib import resources
from pathlib import Path
from types import ModuleType

import pefile
import pytest

from sagefleet.package import STUBS

FINISH = Path(__file__).resolve().parents[1] / "fixtures" / "pe" / "finish.py"
PROGRAMS = ("inno", "nsis", "installshield", "wix-burn", "unknown")


def _finish() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sagefleet_stub_finish", FINISH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("technology", PROGRAMS)
def test_a_shipped_stub_is_its_program_finished_by_finish_py(
    technology: str, tmp_path: Path
) -> None:
    shipped = resources.files("sagefleet").joinpath("stubs", STUBS[technology]).read_bytes()
    pe = pefile.PE(data=shipped, fast_load=True)
    end = max(s.PointerToRawData + s.SizeOfRawData for s in pe.sections)
    program = tmp_path / "program.exe"
    program.write_bytes(shipped[:end])
    finished = tmp_path / STUBS[technology]
    _finish().main(technology, str(program), str(finished))
    assert finished.read_bytes() == shipped


def test_the_check_sees_a_changed_overlay(tmp_path: Path) -> None:
    shipped = resources.files("sagefleet").joinpath("stubs", STUBS["nsis"]).read_bytes()
    changed = shipped.replace(b"NullsoftInst", b"NullsoftInsT")
    pe = pefile.PE(data=changed, fast_load=True)
    end = max(s.PointerToRawData + s.SizeOfRawData for s in pe.sections)
    program = tmp_path / "program.exe"
    program.write_bytes(changed[:end])
    finished = tmp_path / STUBS["nsis"]
    _finish().main("nsis", str(program), str(finished))
    assert finished.read_bytes() != changed

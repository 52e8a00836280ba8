"""An installer read as Windows would read it: technology from its markers, version from
its version resource, on real PE files and a real MSI (src/sagefleet/stubs, built by
tests/fixtures/pe/build.sh)."""

from __future__ import annotations

import json
import struct
from importlib import resources

import olefile
import pefile
import pytest

from sagefleet.errors import InputError
from sagefleet.installer_file import (
    INNO_COMMENT,
    MSI_CLSID,
    read_installer,
    stamp_version,
    version_strings,
)
from sagefleet.package import STUBS, stub_installer
from sagefleet.sim.host import host_from_profile, load_profile
from sagefleet.sim.host.products import AGENT_SERVICE

EXPECTED_EVIDENCE = {
    "inno": ("rDlPtS", "Inno Setup Setup Data (6.2.2)", INNO_COMMENT),
    "nsis": ("NullsoftInst",),
    "wix-burn": (".wixburn", "0x00F14300"),
    "installshield": ("ISSetupStream", "ISInternalDescription"),
    "msi": (MSI_CLSID, "Installation Database"),
    "unknown": ("no marker",),
}


def stub(technology: str) -> bytes:
    return resources.files("sagefleet").joinpath("stubs", STUBS[technology]).read_bytes()


@pytest.mark.parametrize("technology", list(STUBS))
def test_each_stand_in_is_identified_by_its_own_markers(technology: str) -> None:
    found = read_installer(stub(technology), STUBS[technology])
    assert found.technology == technology
    text = " ".join(found.evidence)
    for marker in EXPECTED_EVIDENCE[technology]:
        assert marker in text


@pytest.mark.parametrize("technology", list(STUBS))
def test_the_stand_ins_are_real_windows_files(technology: str) -> None:
    data = stub(technology)
    if technology == "msi":
        ole = olefile.OleFileIO(data)
        assert ole.root.clsid == MSI_CLSID
        ole.close()
    else:
        pe = pefile.PE(data=data)
        assert pe.FILE_HEADER.Machine == 0x8664 and pe.is_exe()
        assert pe.OPTIONAL_HEADER.AddressOfEntryPoint != 0
        assert version_strings(pe)["ProductName"] == "Sage agent test installer"


@pytest.mark.parametrize("technology", list(STUBS))
def test_a_stamped_version_is_read_back_from_the_file(technology: str) -> None:
    found = read_installer(stub_installer(technology, "3.2.17"), STUBS[technology])
    assert found.version == "3.2.17"
    source = "MSI Property ProductVersion" if technology == "msi" else (
        "version resource ProductVersion")
    assert found.version_source == source
    assert (found.product_name, found.company_name) == (
        "Sage agent test installer", "sagefleet test fixture")


def test_stamping_a_program_rewrites_the_fixed_file_info_and_keeps_the_size() -> None:
    data = stamp_version(stub("nsis"), "nsis.exe", "4.10.3")
    pe = pefile.PE(data=data)
    fixed = pe.VS_FIXEDFILEINFO[0]
    assert (fixed.FileVersionMS, fixed.FileVersionLS) == ((4 << 16) | 10, 3 << 16)
    assert (fixed.ProductVersionMS, fixed.ProductVersionLS) == ((4 << 16) | 10, 3 << 16)
    assert len(data) == len(stub("nsis"))
    assert read_installer(data, "x.exe").technology == "nsis"  # the overlay is untouched


def test_a_version_longer_than_the_room_the_stub_holds_is_refused() -> None:
    with pytest.raises(InputError, match="1 to 32 characters"):
        stamp_version(stub("inno"), "inno.exe", "1." * 20)


def test_a_program_with_markers_of_two_technologies_is_unknown() -> None:
    inno = stub("inno")
    nsis_at = len(inno) + (-len(inno) % 512)
    first = struct.pack("<II", 0, 0xDEADBEEF) + b"NullsoftInst" + struct.pack("<II", 0, 28)
    both = inno.ljust(nsis_at, b"\0") + first
    found = read_installer(both, "setup.exe")
    assert found.technology == "unknown"
    assert "conflicting markers" in found.evidence[0]
    assert any("NSIS" in e for e in found.evidence) and any("Inno" in e for e in found.evidence)


def test_an_nsis_signature_off_a_512_byte_boundary_is_no_evidence() -> None:
    plain = stub("unknown")  # no overlay: what is appended starts at a 512-byte boundary
    assert len(plain) % 512 == 0
    signature = struct.pack("<II", 0, 0xDEADBEEF) + b"NullsoftInst"
    misplaced = plain + b"\0" * 100 + signature
    assert read_installer(misplaced, "setup.exe").technology == "unknown"
    aligned = plain + b"\0" * 512 + signature
    assert read_installer(aligned, "setup.exe").technology == "nsis"


def test_a_file_that_is_not_a_program_is_refused_as_windows_would() -> None:
    with pytest.raises(InputError, match="not a Windows program.*not a valid Win32 application"):
        read_installer(b"MZ" + b"\x90" * 4096, "Setup v11.0.exe")


def test_an_msi_that_is_not_an_ole_file_is_refused() -> None:
    with pytest.raises(InputError, match="not a Windows Installer database"):
        read_installer(stub("inno"), "Setup v11.0.msi")


def test_an_msi_renamed_exe_is_refused() -> None:
    with pytest.raises(InputError, match="not a program"):
        read_installer(stub("msi"), "Setup v11.0.exe")


def test_an_ole_file_of_another_class_is_not_an_msi() -> None:
    data = bytearray(stub("msi"))
    ole = olefile.OleFileIO(bytes(data))
    root_entry = ole.root
    # The root directory entry's CLSID sits at byte 80 of its 128-byte entry.
    offset = (ole.first_dir_sector + 1) * ole.sector_size + root_entry.sid * 128 + 80
    ole.close()
    assert data[offset : offset + 4] == bytes.fromhex("84100C00")
    data[offset : offset + 4] = b"\x11\x22\x33\x44"
    with pytest.raises(InputError, match="not a Windows Installer package"):
        read_installer(bytes(data), "Setup v11.0.msi")


def test_the_simulated_installer_installs_the_version_its_file_says() -> None:
    """The simulator reads the version resource, as a real install would report it; the
    metadata only says how the simulated installer behaves."""
    host = host_from_profile("h1", "127.0.0.2", "admin", "pw", load_profile("healthy-onprem"))
    host.fs.mkdir(r"C:\Temp\Setup")
    installer = r"C:\Temp\Setup\Spendesk Sage Agent Setup v11.0.exe"
    host.fs.write(installer, stub_installer("inno", "3.4.1"))
    host.fs.write(installer + ".sagefleet.json", json.dumps({"agent_version": "3.2.0"}).encode())
    host.fs.write(r"C:\Temp\Setup\settings.json", b"{}")
    code, _ = host.run_installer(installer, ["/VERYSILENT"])
    service = host.service(AGENT_SERVICE)
    assert code == 0 and service is not None
    assert service.version == "3.4.1"
    assert host.fs.stat(service.executable).product_version == "3.4.1"


def test_a_version_of_zeros_is_no_version_and_the_next_field_is_read() -> None:
    data = stamp_version(stub("inno"), "inno.exe", "0.0.0.0")
    assert read_installer(data, "setup.exe").version is None
    pe = pefile.PE(data=data)
    table = pe.FileInfo[0][0].StringTable[0]
    _, value_offset = table.entries_offsets[b"FileVersion"]
    pe.set_bytes_at_offset(value_offset, "5.1.0".ljust(32).encode("utf-16-le"))
    table.entries[b"FileVersion"] = "5.1.0".ljust(32).encode()
    found = read_installer(bytes(pe.write()), "setup.exe")
    assert (found.version, found.version_source) == ("5.1.0", "version resource FileVersion")

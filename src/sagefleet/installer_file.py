"""One installer file read as Windows would read it: its technology and its version.

The technology comes from the documented markers its authoring tool leaves (none, or
two, is ``unknown``), the version from its version resource; ``stamp_version`` writes
one (test packages only). Markers and sources: docs/package.md.
"""

from __future__ import annotations

import io
import re
import struct
from dataclasses import dataclass
from functools import partial
from typing import Any

from sagefleet.agent.profile import TECHNOLOGIES
from sagefleet.errors import InputError

#: Human names of the technologies (the profile's keys are the identifiers).
TECHNOLOGY_NAMES = {
    "inno": "Inno Setup",
    "nsis": "NSIS",
    "wix-burn": "WiX Burn bundle",
    "installshield": "InstallShield",
    "msi": "Windows Installer package (MSI)",
    "unknown": "unknown",
}
assert set(TECHNOLOGY_NAMES) == set(TECHNOLOGIES)

OLE_SIGNATURE = bytes.fromhex("D0CF11E0A1B11AE1")
MSI_CLSID = "000C1084-0000-0000-C000-000000000046"
BURN_MAGIC = 0x00F14300
NSIS_SIGNATURE = struct.pack("<I", 0xDEADBEEF) + b"NullsoftInst"
INNO_OFFSET_TABLE_ID = b"rDlPtS"
INNO_RESOURCE_ID = 11111
INNO_SETUP_DATA = b"Inno Setup Setup Data ("
INNO_LOADER_HEADER = b"Inno"  # 0x6F6E6E49 at file offset 0x30 (before 5.1.5)
INNO_COMMENT = "This installation was built with Inno Setup."
INSTALLSHIELD_OVERLAY = (b"InstallShield\0", b"ISSetupStream\0")
INSTALLSHIELD_KEYS = ("ISInternalDescription", "ISInternalVersion")
#: How far into the overlay markers are looked for (they sit at its start).
OVERLAY_SCAN = 1 << 20
RT_RCDATA = 10


@dataclass(frozen=True)
class InstallerFile:
    """What the file itself says."""

    technology: str
    evidence: tuple[str, ...]
    version: str | None
    version_source: str | None
    product_name: str | None = None
    company_name: str | None = None
    file_version: str | None = None
    product_version: str | None = None

    @property
    def technology_name(self) -> str:
        return TECHNOLOGY_NAMES[self.technology]


def read_installer(data: bytes, name: str) -> InstallerFile:
    """Identify ``data`` (the file ``name``); InputError when Windows could not run it."""
    lower = name.lower()
    fix = "rebuild the package from the vendor's original Setup.zip"
    refused = partial(InputError, field="sagefleet_agent_package", value=name, fix=fix)
    if data.startswith(OLE_SIGNATURE):
        if not lower.endswith(".msi"):
            raise refused(
                f"{name} is a Windows Installer database, not a program: Windows "
                "would refuse to run it as an .exe"
            )
        return _read_msi(data, name)
    if lower.endswith(".msi"):
        raise refused(
            f"{name} is not a Windows Installer database (no OLE compound file signature): "
            "msiexec would answer 'This installation package could not be opened'"
        )
    return _read_pe(data, name)


# -- Windows programs ---------------------------------------------------------------


def _pe(data: bytes, name: str) -> Any:
    import pefile

    try:
        pe = pefile.PE(data=data, fast_load=True)
    except pefile.PEFormatError as exc:
        raise InputError(
            f"{name} is not a Windows program ({exc.value}): Windows would answer "
            "'not a valid Win32 application'",
            field="sagefleet_agent_package",
            value=name,
            fix="rebuild the package from the vendor's original Setup.zip",
        ) from None
    pe.parse_data_directories(
        directories=[pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_RESOURCE"]]
    )
    return pe


def _string_tables(pe: Any) -> list[Any]:
    tables: list[Any] = []
    for group in getattr(pe, "FileInfo", None) or []:
        for entry in group:
            if getattr(entry, "Key", b"") == b"StringFileInfo":
                tables.extend(getattr(entry, "StringTable", []) or [])
    return tables


def version_strings(pe: Any) -> dict[str, str]:
    """The first string table of the version resource, decoded (empty when none)."""
    for table in _string_tables(pe):
        return {
            k.decode("utf-8", "replace"): v.decode("utf-8", "replace").strip()
            for k, v in table.entries.items()
        }
    return {}


def _fixed_version(pe: Any, kind: str) -> str | None:
    fixed = getattr(pe, "VS_FIXEDFILEINFO", None)
    if not fixed:
        return None
    ms, ls = getattr(fixed[0], f"{kind}VersionMS"), getattr(fixed[0], f"{kind}VersionLS")
    if not (ms or ls):
        return None
    return f"{ms >> 16}.{ms & 0xFFFF}.{ls >> 16}.{ls & 0xFFFF}"


def _rcdata(pe: Any, resource_id: int) -> bytes | None:
    root = getattr(pe, "DIRECTORY_ENTRY_RESOURCE", None)
    for kind in getattr(root, "entries", []):
        if kind.id != RT_RCDATA:
            continue
        for item in getattr(kind.directory, "entries", []):
            if item.id != resource_id:
                continue
            for language in getattr(item.directory, "entries", []):
                entry = language.data.struct
                return bytes(pe.get_data(entry.OffsetToData, entry.Size))
    return None


def _evidence_pe(pe: Any, data: bytes, strings: dict[str, str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}

    def add(technology: str, what: str) -> None:
        found.setdefault(technology, []).append(what)

    for section in pe.sections:
        if section.Name.rstrip(b"\0") == b".wixburn":
            head = section.get_data()[:4]
            magic = struct.unpack("<I", head)[0] if len(head) == 4 else None
            add(
                "wix-burn",
                "PE section .wixburn"
                + (f" (magic 0x{magic:08X})" if magic == BURN_MAGIC else " (unexpected magic)"),
            )
    overlay_at = pe.get_overlay_data_start_offset()
    overlay = data[overlay_at : overlay_at + OVERLAY_SCAN] if overlay_at is not None else b""
    at = overlay.find(NSIS_SIGNATURE, 4)
    while at != -1:
        if (overlay_at + at - 4) % 512 == 0:  # the signature follows the first header's flags
            add("nsis", f"NSIS first header (NullsoftInst) at offset {overlay_at + at - 4}")
            break
        at = overlay.find(NSIS_SIGNATURE, at + 1)
    table = _rcdata(pe, INNO_RESOURCE_ID)
    if table is not None and table.startswith(INNO_OFFSET_TABLE_ID):
        add(
            "inno",
            f"setup loader offset table ({INNO_OFFSET_TABLE_ID.decode()}) "
            f"in RCDATA resource {INNO_RESOURCE_ID}",
        )
    if data[0x30:0x34] == INNO_LOADER_HEADER:
        add("inno", "setup loader header 'Inno' at offset 0x30")
    at = overlay.find(INNO_SETUP_DATA)
    if at != -1:
        end = overlay.find(b")", at)
        label = overlay[at : end + 1 if 0 < end - at < 64 else at + len(INNO_SETUP_DATA)]
        add("inno", f"'{label.decode('latin-1')}' in the overlay")
    if strings.get("Comments") == INNO_COMMENT:
        add("inno", f"version resource Comments '{INNO_COMMENT}'")
    for magic in INSTALLSHIELD_OVERLAY:
        start = overlay[: 64 + len(magic)]
        if start.startswith(magic) or (start.startswith(b"NB10") and magic in start):
            signature = magic.rstrip(b"\0").decode()
            add("installshield", f"overlay starts with '{signature}'")
    for key in INSTALLSHIELD_KEYS:
        if strings.get(key):
            add("installshield", f"version resource {key} '{strings[key]}'")
    if strings.get("ProductName") in ("InstallShield", "InstallShield (R)"):
        add("installshield", f"version resource ProductName '{strings['ProductName']}'")
    return found


def _decide(found: dict[str, list[str]]) -> tuple[str, tuple[str, ...]]:
    if len(found) == 1:
        technology, evidence = next(iter(found.items()))
        return technology, tuple(evidence)
    if not found:
        return "unknown", ("no marker of Inno Setup, NSIS, WiX Burn, InstallShield or MSI",)
    return "unknown", tuple(
        f"conflicting markers: {TECHNOLOGY_NAMES[t]}: {'; '.join(e)}" for t, e in found.items()
    )


def _says_a_version(text: str | None) -> bool:
    """Whether a version string says something: not empty, not all zeros (``0.0.0.0`` is
    what an authoring tool writes when the author set no version)."""
    return bool(text) and re.fullmatch(r"[0.\s]*", text or "") is None


def _read_pe(data: bytes, name: str) -> InstallerFile:
    pe = _pe(data, name)  # from bytes: nothing to close (pefile's close() runs the GC)
    strings = version_strings(pe)
    technology, evidence = _decide(_evidence_pe(pe, data, strings))
    version, source = None, None
    for key in ("ProductVersion", "FileVersion"):
        if _says_a_version(strings.get(key)):
            version, source = strings[key], f"version resource {key}"
            break
    else:
        fixed = _fixed_version(pe, "Product") or _fixed_version(pe, "File")
        if _says_a_version(fixed):
            version, source = fixed, "version resource (fixed file info)"
    return InstallerFile(
        technology=technology,
        evidence=evidence,
        version=version,
        version_source=source,
        product_name=strings.get("ProductName") or None,
        company_name=strings.get("CompanyName") or None,
        file_version=strings.get("FileVersion") or _fixed_version(pe, "File"),
        product_version=strings.get("ProductVersion") or _fixed_version(pe, "Product"),
    )


# -- Windows Installer databases ------------------------------------------------------

#: MSI stream names pack two of these 64 characters into one code point
#: (U+3800-U+47FF), one into U+4800-U+483F; U+4840 marks a table's stream.
_MSI_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz._"


def msi_stream_name(encoded: str) -> str:
    """The readable name of an MSI stream (``!Property``, ``!_StringPool``...)."""
    out = []
    for char in encoded:
        code = ord(char)
        if 0x3800 <= code < 0x4800:
            code -= 0x3800
            out += [_MSI_CHARS[code & 0x3F], _MSI_CHARS[(code >> 6) & 0x3F]]
        elif 0x4800 <= code < 0x4840:
            out.append(_MSI_CHARS[code - 0x4800])
        elif code == 0x4840:
            out.append("!")
        else:
            out.append(char)
    return "".join(out)


@dataclass
class _StringPool:
    """The database's string table: id → (pool entry, offset in the data, length)."""

    codepage: int
    ref_size: int
    entries: dict[int, tuple[int, int, int]]
    refcounts: dict[int, int]
    data: bytes

    def text(self, string_id: int) -> str | None:
        found = self.entries.get(string_id)
        if found is None:
            return None
        _, offset, length = found
        encoding = (
            f"cp{self.codepage}"
            if self.codepage not in (0, 65001)
            else ("utf-8" if self.codepage == 65001 else "cp1252")
        )
        try:
            return self.data[offset : offset + length].decode(encoding, "replace")
        except LookupError:
            return self.data[offset : offset + length].decode("cp1252", "replace")


def _string_pool(pool: bytes, data: bytes) -> _StringPool:
    words = struct.unpack(f"<{len(pool) // 2}H", pool[: len(pool) // 2 * 2])
    if len(words) < 2:
        raise ValueError("empty string pool")
    codepage = words[0] | ((words[1] & 0x7FFF) << 16)
    entries: dict[int, tuple[int, int, int]] = {}
    refcounts: dict[int, int] = {}
    count, index, string_id, offset = len(words) // 2, 1, 1, 0
    while index < count:
        length, refs = words[2 * index], words[2 * index + 1]
        entry = index
        if length == 0 and refs == 0:
            index, string_id = index + 1, string_id + 1
            continue
        if length == 0:  # a string of 64 KiB or more: its length spans two entries
            if index + 1 >= count:
                raise ValueError("truncated string pool")
            length = (words[2 * index + 3] << 16) + words[2 * index + 2]
            index += 2
        else:
            index += 1
        if offset + length > len(data):
            raise ValueError("string pool longer than its data")
        entries[string_id] = (entry, offset, length)
        refcounts[string_id] = refs
        offset += length
        string_id += 1
    return _StringPool(codepage, 3 if words[1] & 0x8000 else 2, entries, refcounts, data)


@dataclass
class _MsiTables:
    streams: dict[str, list[str]]
    pool: _StringPool
    pool_raw: bytes
    properties: dict[str, str]
    value_ids: dict[str, int]


def _msi_tables(data: bytes) -> _MsiTables:
    """The string pool and the Property table of an installer database."""
    import olefile

    ole = olefile.OleFileIO(io.BytesIO(data))
    try:
        streams = {
            msi_stream_name(path[0]): path
            for path in ole.listdir(streams=True, storages=False)
            if len(path) == 1
        }
        pool_raw = ole.openstream(streams["!_StringPool"]).read()
        pool = _string_pool(pool_raw, ole.openstream(streams["!_StringData"]).read())
        raw = ole.openstream(streams["!Property"]).read()
    finally:
        ole.close()
    width = pool.ref_size
    rows = len(raw) // (2 * width)
    properties: dict[str, str] = {}
    value_ids: dict[str, int] = {}
    for row in range(rows):
        key = int.from_bytes(raw[row * width : (row + 1) * width], "little")
        value = int.from_bytes(raw[(rows + row) * width : (rows + row + 1) * width], "little")
        name = pool.text(key)
        if name is not None:
            properties[name] = pool.text(value) or ""
            value_ids[name] = value
    return _MsiTables(streams, pool, pool_raw, properties, value_ids)


def _read_msi(data: bytes, name: str) -> InstallerFile:
    import olefile

    fix = "rebuild the package from the vendor's original Setup.zip"
    try:
        ole = olefile.OleFileIO(io.BytesIO(data))
    except (OSError, ValueError) as exc:  # olefile raises OSError on a damaged file
        raise InputError(
            f"{name} is a damaged OLE compound file ({exc}): msiexec could not open it",
            field="sagefleet_agent_package",
            value=name,
            fix=fix,
        ) from None
    try:
        clsid = (ole.root.clsid or "").upper()
        if clsid != MSI_CLSID:
            raise InputError(
                f"{name} is an OLE compound file of class {{{clsid or 'none'}}}, not a "
                f"Windows Installer package ({{{MSI_CLSID}}})",
                field="sagefleet_agent_package",
                value=name,
                fix=fix,
            )
        evidence = [f"OLE compound file of class {{{MSI_CLSID}}} (installer database)"]
        meta = ole.get_metadata()
        title = (meta.title or b"").decode("cp1252", "replace")
        if title:
            evidence.append(f"Summary Information title '{title}'")
    finally:
        ole.close()
    properties: dict[str, str] = {}
    try:
        properties = _msi_tables(data).properties
    except (KeyError, ValueError, OSError, struct.error):
        evidence.append("Property table unreadable: version unknown")
    version = properties.get("ProductVersion") or None
    version = version if _says_a_version(version) else None
    return InstallerFile(
        technology="msi",
        evidence=tuple(evidence),
        version=version,
        version_source="MSI Property ProductVersion" if version else None,
        product_name=properties.get("ProductName") or None,
        company_name=properties.get("Manufacturer") or None,
        product_version=version,
    )


# -- test packages: writing a version in place ---------------------------------------

_VERSION_TEXT = re.compile(r"^[0-9A-Za-z.+-]{1,32}$")


def _numeric(version: str) -> tuple[int, int, int, int]:
    parts = [int(m.group(0)) if (m := re.match(r"\d+", p)) else 0 for p in version.split(".")]
    parts = [min(p, 0xFFFF) for p in parts[:4]] + [0] * (4 - min(len(parts), 4))
    return parts[0], parts[1], parts[2], parts[3]


def stamp_version(data: bytes, name: str, version: str) -> bytes:
    """``data`` with ``version`` as its version (test packages: never a vendor file).

    A program's version resource keeps its layout: FileVersion and ProductVersion are
    rewritten in the room their String structures hold (the stubs reserve 32
    characters), padded with spaces as tools that stamp a version in place do; the
    fixed file info gets the numeric form. An MSI keeps the size of
    its string streams: the ProductVersion string grows or shrinks against the
    stub's ``SAGEFLEETSTUB`` padding property.
    """
    if not _VERSION_TEXT.match(version):
        raise InputError(
            "a test package's version is 1 to 32 characters of letters, digits, . + -",
            field="--version",
            value=version,
        )
    if data.startswith(OLE_SIGNATURE):
        return _stamp_msi(data, version)
    return _stamp_pe(data, name, version)


def _stamp_pe(data: bytes, name: str, version: str) -> bytes:
    pe = _pe(data, name)
    tables = _string_tables(pe)
    if not tables:
        raise InputError(f"{name} has no version resource to stamp", value=name)
    for table in tables:
        for key in (b"FileVersion", b"ProductVersion"):
            if key not in table.entries_offsets:
                continue
            key_offset, value_offset = table.entries_offsets[key]
            header = key_offset - 6  # String: wLength, wValueLength, wType, szKey
            length = pe.get_word_from_offset(header)
            room = (header + length - value_offset) // 2  # characters, NUL included
            if len(version) + 1 > room:
                raise InputError(
                    f"{name}: version {version!r} does not fit the {room - 1} characters "
                    f"its {key.decode()} holds",
                    value=version,
                )
            # Padded with spaces to the String's room, so its lengths stay true.
            padded = version.ljust(room - 1)
            pe.set_bytes_at_offset(value_offset, (padded + "\0").encode("utf-16-le"))
            table.entries[key] = padded.encode("utf-8")  # what pefile.write() writes
    numbers = _numeric(version)
    for fixed in getattr(pe, "VS_FIXEDFILEINFO", None) or []:
        for kind in ("File", "Product"):
            setattr(fixed, f"{kind}VersionMS", (numbers[0] << 16) | numbers[1])
            setattr(fixed, f"{kind}VersionLS", (numbers[2] << 16) | numbers[3])
    return bytes(pe.write())


def _stamp_msi(data: bytes, version: str) -> bytes:
    import olefile

    try:
        tables = _msi_tables(data)
    except (KeyError, ValueError, OSError, struct.error) as exc:
        raise InputError(f"the MSI stub cannot be stamped ({exc})") from None
    pool, pool_raw, streams, value_ids = (
        tables.pool,
        tables.pool_raw,
        tables.streams,
        tables.value_ids,
    )
    target, padding = value_ids.get("ProductVersion"), value_ids.get("SAGEFLEETSTUB")
    if target is None or padding is None or pool.refcounts.get(target) != 1:
        raise InputError(
            "the MSI stub has no ProductVersion string of its own and "
            "SAGEFLEETSTUB padding to stamp"
        )
    old = pool.entries[target][2]
    grow = len(version) - old
    pad_length = pool.entries[padding][2] - grow
    if pad_length < 1:
        raise InputError(f"version {version!r} is too long for the MSI stub", value=version)
    new = {target: version.encode("ascii"), padding: b"x" * pad_length}
    words = list(struct.unpack(f"<{len(pool_raw) // 2}H", pool_raw))
    chunks = []
    for string_id, (entry, offset, length) in sorted(pool.entries.items()):
        text = new.get(string_id, pool.data[offset : offset + length])
        if string_id in new:
            words[2 * entry] = len(text)
        chunks.append(text)
    string_data = b"".join(chunks)
    assert len(string_data) == len(pool.data)
    buffer = io.BytesIO(data)
    writer = olefile.OleFileIO(buffer, write_mode=True)
    try:
        writer.write_stream(streams["!_StringPool"], struct.pack(f"<{len(words)}H", *words))
        writer.write_stream(streams["!_StringData"], string_data)
    finally:
        writer.close()
    return buffer.getvalue()

"""The simulated Windows host (the model layer): state only, no protocol code.

One module per subsystem; this package names what the command layer and the tests
use. See docs/simulator.md, "Layers".
"""

from __future__ import annotations

from sagefleet.sim.host.accounts import (
    ACE_RIGHTS,
    ADMINISTRATORS,
    AUTHENTICATED_USERS,
    BROAD_PRINCIPALS,
    CREATOR,
    CREATOR_OWNER,
    EVERYONE,
    LOCAL_SERVICE,
    NETWORK_SERVICE,
    NOT_MAPPED,
    SYSTEM,
    TRUSTED_INSTALLER,
    UI_LANGUAGES,
    USERS,
    WELL_KNOWN_NAMES,
    Ace,
    Acl,
    IdentityNotMapped,
    private_folder_acl,
)
from sagefleet.sim.host.errors import (
    AccessDenied,
    DiskFull,
    ModelError,
    PathNotFound,
    ProfileError,
    ScriptHung,
    ServiceError,
    ServiceTimeout,
    SharingViolation,
)
from sagefleet.sim.host.events import (
    EventRecord,
)
from sagefleet.sim.host.filesystem import (
    DRIVE_TYPES,
    Drive,
    FileEntry,
    FileSystem,
    Share,
    Volume,
    has_network_credentials,
    logon_session,
)
from sagefleet.sim.host.host import (
    WindowsHost,
    WinRMService,
)
from sagefleet.sim.host.network import (
    DEFAULT_ENDPOINTS,
    DNS_STATUSES,
    TCP_RESULTS,
    TLS_PROTOCOLS,
    NetworkPolicy,
)
from sagefleet.sim.host.profile import (
    host_from_profile,
    load_profile,
    profile_names,
)
from sagefleet.sim.host.registry import (
    REG_KINDS,
    Registry,
    RegistryData,
    RegistryValue,
)
from sagefleet.sim.host.services import (
    LOGON_FAILURE,
    SERVICE_STATES,
    START_MODES,
    WAIT_TIMEOUT,
    Service,
)
from sagefleet.sim.host.x509 import (
    CertStores,
)

__all__ = [
    "ACE_RIGHTS",
    "ADMINISTRATORS",
    "AUTHENTICATED_USERS",
    "AccessDenied",
    "Ace",
    "Acl",
    "BROAD_PRINCIPALS",
    "CREATOR",
    "CREATOR_OWNER",
    "CertStores",
    "DEFAULT_ENDPOINTS",
    "DNS_STATUSES",
    "DRIVE_TYPES",
    "DiskFull",
    "Drive",
    "EVERYONE",
    "EventRecord",
    "FileEntry",
    "FileSystem",
    "IdentityNotMapped",
    "LOCAL_SERVICE",
    "LOGON_FAILURE",
    "ModelError",
    "NETWORK_SERVICE",
    "NOT_MAPPED",
    "NetworkPolicy",
    "PathNotFound",
    "ProfileError",
    "REG_KINDS",
    "Registry",
    "RegistryData",
    "RegistryValue",
    "SERVICE_STATES",
    "START_MODES",
    "SYSTEM",
    "ScriptHung",
    "Service",
    "ServiceError",
    "ServiceTimeout",
    "Share",
    "SharingViolation",
    "TCP_RESULTS",
    "TLS_PROTOCOLS",
    "TRUSTED_INSTALLER",
    "UI_LANGUAGES",
    "USERS",
    "Volume",
    "WAIT_TIMEOUT",
    "WELL_KNOWN_NAMES",
    "WinRMService",
    "WindowsHost",
    "has_network_credentials",
    "host_from_profile",
    "load_profile",
    "logon_session",
    "private_folder_acl",
    "profile_names",
]

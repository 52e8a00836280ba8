"""Platform rules: what Windows refuses in a script because of the host's policy.

The FIPS policy and ``Expand-Archive``: docs/simulator.md, "Rules: what Windows
refuses in a script", and the fidelity ledger's rows 9 and 10.
"""

from __future__ import annotations

from sagefleet.sim.commands import semantics
from sagefleet.sim.host import WindowsHost
from sagefleet.sim.host.products import FIPS_POLICY_KEY

FIPS_MESSAGE = (
    "This implementation is not part of the Windows Platform FIPS validated cryptographic "
    "algorithms."
)
# [System.Security.Cryptography.SHA256]::Create(), [SHA256CryptoServiceProvider]::Create()
# (the static method is SHA256.Create), [HashAlgorithm]::Create('SHA256')...
_MANAGED_CREATE = (
    r"\[(?:System\.)?(?:Security\.)?(?:Cryptography\.)?"
    r"(?:SHA(?:1|256|384|512)\w*|MD5\w*|RIPEMD160\w*|HashAlgorithm)\]::Create\("
)
# The managed implementations and MD5 (any implementation): not FIPS validated.
_MANAGED_CTOR = r"\b(?:SHA(?:1|256|384|512)Managed|RIPEMD160Managed|MD5CryptoServiceProvider)\b"
_GET_FILEHASH_NON_FIPS = r"\bGet-FileHash\b[^\r\n|;]*-Algorithm\s+['\"]?(?:MD5|RIPEMD160)\b"


def fips_enforced(host: WindowsHost) -> bool:
    """Whether the FIPS security policy is on (what .NET reads at start)."""
    return host.registry.get(FIPS_POLICY_KEY, "Enabled") == 1


@semantics.rule
def fips_policy(host: WindowsHost, script: semantics.Script) -> str | None:
    if not fips_enforced(host):
        return None
    if script.uses(_MANAGED_CREATE):
        return f'Exception calling "Create" with "0" argument(s): "{FIPS_MESSAGE}"'
    if script.uses(_MANAGED_CTOR) or script.uses(_GET_FILEHASH_NON_FIPS):
        return f'Exception calling ".ctor" with "0" argument(s): "{FIPS_MESSAGE}"'
    return None


@semantics.rule
def expand_archive(host: WindowsHost, script: semantics.Script) -> str | None:
    if not script.uses(r"\bExpand-Archive\b"):
        return None
    return (
        "sagefleet simulator: Expand-Archive is refused: a script-module cmdlet (execution "
        "policy, language mode) that extracts the whole archive by its own rules, not the "
        "entries the script validated; extract them with System.IO.Compression"
    )

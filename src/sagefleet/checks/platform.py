"""SF1xx: the Windows platform under the agent."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from sagefleet.checks.base import Context, Outcome, check, failed, major_minor, passed, unknown
from sagefleet.facts import parse_utc
from sagefleet.findings import Severity


@check("SF101")
def dotnet(ctx: Context) -> Iterator[Outcome]:
    release = ctx.facts.dotnet_release
    build = ctx.facts.identity.os_build
    if release is None:
        yield unknown(
            ctx.t(
                "no .NET Framework 4.x Release value in the registry",
                "aucune valeur Release de .NET Framework 4.x dans le registre",
            ),
            ctx.dotnet.remediation(build, ctx.lang),
        )
        return
    yield at_least(
        ctx,
        release >= ctx.dotnet.minimum_release,
        f".NET Framework {ctx.dotnet.version_of(release)} (Release {release})",
        ("the agent needs 4.8", "l'agent exige la 4.8"),
        ctx.dotnet.remediation(build, ctx.lang),
        release,
    )


def at_least(
    ctx: Context, ok: bool, found: str, needs: tuple[str, str], remediation: str, observed: Any
) -> Outcome:
    """Passed, saying what was ``found``, when ``ok``; else failed, saying also what is
    needed (``needs``: English, French)."""
    if ok:
        return passed(found, observed=observed)
    return failed(
        ctx.t(f"{found}; {needs[0]}", f"{found} ; {needs[1]}"), remediation, observed=observed
    )


def targets_before_47(ctx: Context) -> bool:
    """Whether the agent profile says the agent targets a .NET Framework older than 4.7
    (such an app does not follow the OS's TLS defaults without the registry values)."""
    parsed = major_minor(ctx.agent_target_framework)
    return parsed is not None and parsed < (4, 7)


@check("SF102")
def netfx_tls(ctx: Context) -> Iterator[Outcome]:
    tls = ctx.facts.tls
    values = {
        "SchUseStrongCrypto (64-bit)": tls.netfx_x64_strong_crypto,
        "SystemDefaultTlsVersions (64-bit)": tls.netfx_x64_system_default,
        "SchUseStrongCrypto (32-bit)": tls.netfx_x86_strong_crypto,
        "SystemDefaultTlsVersions (32-bit)": tls.netfx_x86_system_default,
    }
    remediation = ctx.t(
        "set SchUseStrongCrypto=1 and SystemDefaultTlsVersions=1 (DWORD) under "
        "HKLM\\SOFTWARE\\Microsoft\\.NETFramework\\v4.0.30319 and "
        "HKLM\\SOFTWARE\\WOW6432Node\\Microsoft\\.NETFramework\\v4.0.30319, then restart the agent",
        "positionnez SchUseStrongCrypto=1 et SystemDefaultTlsVersions=1 (DWORD) sous "
        "HKLM\\SOFTWARE\\Microsoft\\.NETFramework\\v4.0.30319 et "
        "HKLM\\SOFTWARE\\WOW6432Node\\Microsoft\\.NETFramework\\v4.0.30319, "
        "puis redémarrez l'agent",
    )
    disabled = [k for k, v in values.items() if v == 0]
    missing = [k for k, v in values.items() if v is None]
    if disabled:
        yield failed(
            ctx.t(
                f"explicitly disabled: {', '.join(disabled)}",
                f"désactivé explicitement : {', '.join(disabled)}",
            ),
            remediation,
            observed=values,
            severity=Severity.ERROR,
        )
    elif missing and targets_before_47(ctx):
        framework = ctx.agent_target_framework
        yield failed(
            ctx.t(
                f"not set: {', '.join(missing)}; the agent targets .NET Framework {framework}, "
                "older than 4.7, so without them it does not follow the OS's TLS 1.2 default",
                f"non défini : {', '.join(missing)} ; l'agent cible .NET Framework {framework}, "
                "antérieur à 4.7 : sans ces valeurs il ne suit pas TLS 1.2 par défaut de Windows",
            ),
            remediation,
            observed=values,
            severity=Severity.WARNING,
        )
    elif missing:
        # The usual server: nothing to do, and nothing to note on every host of a fleet.
        framework = ctx.agent_target_framework or "4.7+"
        yield passed(
            ctx.t(
                f"not set (the OS default applies): {', '.join(missing)}; an agent targeting "
                f".NET Framework 4.7 or later ({framework}) follows the OS default, TLS 1.2 "
                "included",
                f"non défini (la valeur par défaut de Windows s'applique) : {', '.join(missing)} ; "
                f"un agent ciblant .NET Framework 4.7 ou plus ({framework}) suit ce défaut, "
                "TLS 1.2 compris",
            ),
            observed=values,
        )
    else:
        yield passed(
            ctx.t(
                "strong crypto and system default TLS versions enabled",
                "cryptographie forte et versions TLS du système activées",
            ),
            observed=values,
        )


@check("SF103")
def schannel(ctx: Context) -> Iterator[Outcome]:
    enabled = ctx.facts.tls.schannel_tls12_enabled
    disabled_by_default = ctx.facts.tls.schannel_tls12_disabled_by_default
    observed = {"Enabled": enabled, "DisabledByDefault": disabled_by_default}
    if enabled == 0 or disabled_by_default == 1:
        yield failed(
            ctx.t(
                "TLS 1.2 client is disabled in Schannel",
                "le client TLS 1.2 est désactivé dans Schannel",
            ),
            ctx.t(
                "set Enabled=1 and DisabledByDefault=0 under HKLM\\SYSTEM\\CurrentControlSet\\"
                "Control\\SecurityProviders\\SCHANNEL\\Protocols\\TLS 1.2\\Client (or delete "
                "the overrides) and restart the server",
                "positionnez Enabled=1 et DisabledByDefault=0 sous HKLM\\SYSTEM\\"
                "CurrentControlSet\\Control\\SecurityProviders\\SCHANNEL\\Protocols\\TLS 1.2\\"
                "Client (ou supprimez ces valeurs) puis redémarrez le serveur",
            ),
            observed=observed,
        )
    else:
        yield passed(ctx.t("TLS 1.2 client allowed", "client TLS 1.2 autorisé"), observed=observed)


def whole_seconds(value: float) -> int:
    """Seconds rounded half away from zero, so +299.5 and -299.5 land alike."""
    rounded = math.floor(abs(value) + 0.5)
    return int(rounded if value >= 0 else -rounded)


def signed_seconds(value: int) -> str:
    """ "+300 s", "-300 s", and "0 s" (never "-0")."""
    return "0 s" if value == 0 else f"{value:+d} s"


@check("SF104")
def clock(ctx: Context) -> Iterator[Outcome]:
    text = ctx.facts.identity.utc_now
    if not text:
        yield unknown(ctx.t("the host did not report its time", "l'hôte n'a pas donné son heure"))
        return
    remote = parse_utc(text)
    if remote is None:
        yield unknown(ctx.t(f"unreadable host time {text!r}", f"heure illisible {text!r}"))
        return
    if not ctx.compare_clock:
        yield unknown(
            ctx.t(
                "no bastion time to compare the host's clock with (facts collected offline)",
                "aucune heure du bastion à comparer à l'horloge de l'hôte (faits collectés "
                "hors ligne)",
            ),
            ctx.t(
                "give the time the facts were collected at (--collected-at), or run preflight",
                "indiquez l'heure de la collecte (--collected-at), ou lancez la pré-vérification",
            ),
            observed=text,
        )
        return
    skew = whole_seconds((remote - ctx.bastion_utc).total_seconds())
    shown = signed_seconds(skew)
    if abs(skew) < ctx.max_clock_skew_s:
        yield passed(ctx.t(f"clock skew {shown}", f"décalage d'horloge {shown}"), observed=skew)
        return
    minutes = ctx.clock_skew_error_s // 60
    off = ctx.t(
        f"the host clock is {shown} off the bastion's: ",
        f"l'horloge de l'hôte est décalée de {shown} par rapport au bastion : ",
    )
    if abs(skew) >= ctx.clock_skew_error_s:
        severity = None
        why = ctx.t(
            f"AWS rejects requests signed with a clock more than about {minutes} minutes off",
            f"AWS refuse les requêtes signées avec une horloge décalée de plus de {minutes} "
            "minutes environ",
        )
    else:
        severity = Severity.WARNING
        why = ctx.t(
            f"within AWS's tolerance of about {minutes} minutes, but drifting",
            f"dans la tolérance d'AWS (environ {minutes} minutes), mais elle dérive",
        )
    yield failed(
        off + why,
        ctx.t(
            "synchronise the clock (w32tm /resync, or fix the domain/NTP time source)",
            "synchronisez l'horloge (w32tm /resync, ou corrigez la source NTP/domaine)",
        ),
        observed=skew,
        severity=severity,
    )


@check("SF105")
def free_space(ctx: Context) -> Iterator[Outcome]:
    drive = ctx.facts.drive("C:")
    if drive is None or drive.free_bytes is None:
        yield unknown(ctx.t("free space of C: not reported", "espace libre de C: non remonté"))
        return
    free_mb = drive.free_bytes // (1024 * 1024)
    if free_mb >= ctx.min_free_mb:
        yield passed(
            ctx.t(f"{free_mb} MiB free on C:", f"{free_mb} Mio libres sur C:"), observed=free_mb
        )
    else:
        yield failed(
            ctx.t(
                f"only {free_mb} MiB free on C:, {ctx.min_free_mb} MiB needed",
                f"seulement {free_mb} Mio libres sur C:, {ctx.min_free_mb} Mio nécessaires",
            ),
            ctx.t(
                "free space on C: (Disk Cleanup, old installers, logs) before deploying",
                "libérez de l'espace sur C: (nettoyage de disque, anciens installeurs, "
                "journaux) avant le déploiement",
            ),
            observed=free_mb,
        )


def language_mode_outcome(mode: str | None, lang: str = "en") -> Outcome:
    """SF107's verdict on a language mode (None: not reported); also given without facts
    when the stdin bootstrap itself names the mode and stops."""

    def t(en: str, fr: str) -> str:
        return fr if lang == "fr" else en

    if mode is None:
        return unknown(
            t("PowerShell language mode not reported", "mode de langage PowerShell inconnu")
        )
    if mode == "FullLanguage":
        return passed("FullLanguage", observed=mode)
    return failed(
        t(
            f"PowerShell runs in {mode} mode in WinRM sessions: sagefleet's scripts need "
            "FullLanguage",
            f"PowerShell s'exécute en mode {mode} dans les sessions WinRM : les scripts de "
            "sagefleet exigent FullLanguage",
        ),
        t(
            "an AppLocker or WDAC policy constrains PowerShell: exempt the account sagefleet "
            "connects with from the policy (the same policy also constrains the offline "
            "`sagefleet facts-script` unless it runs as an exempt account)",
            "une stratégie AppLocker ou WDAC restreint PowerShell : exemptez de la stratégie "
            "le compte utilisé par sagefleet (la même stratégie restreint aussi le script "
            "hors ligne `sagefleet facts-script`, sauf lancé par un compte exempté)",
        ),
        observed=mode,
    )


@check("SF107")
def language_mode(ctx: Context) -> Iterator[Outcome]:
    yield language_mode_outcome(ctx.facts.identity.language_mode, ctx.lang)


@check("SF106")
def powershell(ctx: Context) -> Iterator[Outcome]:
    version = ctx.facts.identity.powershell_version
    parsed = major_minor(version)
    if parsed is None:
        yield unknown(ctx.t("PowerShell version not reported", "version de PowerShell inconnue"))
    else:
        yield at_least(
            ctx,
            parsed >= (5, 1),
            f"PowerShell {version}",
            ("sagefleet needs 5.1", "sagefleet exige la 5.1"),
            ctx.t(
                "install Windows Management Framework 5.1",
                "installez Windows Management Framework 5.1",
            ),
            version,
        )

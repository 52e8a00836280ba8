"""SF1xx: the Windows platform under the agent."""

from __future__ import annotations

from collections.abc import Iterator

from sagefleet.checks import Context, Outcome, check, failed, major_minor, passed, unknown
from sagefleet.facts import parse_utc
from sagefleet.findings import Severity


@check("SF101", Severity.ERROR, ".NET Framework 4.8 or later", ".NET Framework 4.8 ou plus récent")
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
    version = ctx.dotnet.version_of(release)
    if release >= ctx.dotnet.minimum_release:
        yield passed(f".NET Framework {version} (Release {release})", observed=release)
    else:
        yield failed(
            ctx.t(
                f".NET Framework {version} (Release {release}); the agent needs 4.8",
                f".NET Framework {version} (Release {release}) ; l'agent exige la 4.8",
            ),
            ctx.dotnet.remediation(build, ctx.lang),
            observed=release,
        )


@check(
    "SF102",
    Severity.WARNING,
    "TLS 1.2 for .NET 4.x applications",
    "TLS 1.2 pour les applications .NET 4.x",
)
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
    elif missing:
        yield failed(
            ctx.t(
                f"not set (the OS default applies): {', '.join(missing)}",
                f"non défini (la valeur par défaut de Windows s'applique) : {', '.join(missing)}",
            ),
            remediation,
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


@check(
    "SF103",
    Severity.ERROR,
    "TLS 1.2 not disabled in Schannel",
    "TLS 1.2 non désactivé dans Schannel",
)
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


@check(
    "SF104",
    Severity.ERROR,
    "Clock within 5 minutes of the bastion",
    "Horloge à moins de 5 minutes du bastion",
)
def clock(ctx: Context) -> Iterator[Outcome]:
    text = ctx.facts.identity.utc_now
    if not text:
        yield unknown(ctx.t("the host did not report its time", "l'hôte n'a pas donné son heure"))
        return
    remote = parse_utc(text)
    if remote is None:
        yield unknown(ctx.t(f"unreadable host time {text!r}", f"heure illisible {text!r}"))
        return
    skew = (remote - ctx.controller_utc).total_seconds()
    observed = round(skew, 1)
    if abs(skew) <= ctx.max_clock_skew_s:
        yield passed(
            ctx.t(f"clock skew {observed} s", f"décalage d'horloge {observed} s"), observed=observed
        )
    else:
        yield failed(
            ctx.t(
                f"the host clock is {observed:+.0f} s off the bastion's",
                f"l'horloge de l'hôte est décalée de {observed:+.0f} s par rapport au bastion",
            ),
            ctx.t(
                "synchronise the clock (w32tm /resync, or fix the domain/NTP time source): "
                "signed requests to AWS fail beyond a few minutes of skew",
                "synchronisez l'horloge (w32tm /resync, ou corrigez la source NTP/domaine) : "
                "les requêtes signées vers AWS échouent au-delà de quelques minutes",
            ),
            observed=observed,
        )


@check(
    "SF105",
    Severity.ERROR,
    "Free space for the package and the install",
    "Espace libre pour le paquet et l'installation",
)
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


@check(
    "SF107",
    Severity.ERROR,
    "PowerShell FullLanguage mode",
    "PowerShell en mode FullLanguage",
)
def language_mode(ctx: Context) -> Iterator[Outcome]:
    yield language_mode_outcome(ctx.facts.identity.language_mode, ctx.lang)


@check("SF106", Severity.ERROR, "Windows PowerShell 5.1", "Windows PowerShell 5.1")
def powershell(ctx: Context) -> Iterator[Outcome]:
    version = ctx.facts.identity.powershell_version
    parsed = major_minor(version)
    if parsed is None:
        yield unknown(ctx.t("PowerShell version not reported", "version de PowerShell inconnue"))
    elif parsed >= (5, 1):
        yield passed(f"PowerShell {version}", observed=version)
    else:
        yield failed(
            ctx.t(
                f"PowerShell {version}; sagefleet needs 5.1",
                f"PowerShell {version} ; sagefleet exige la 5.1",
            ),
            ctx.t(
                "install Windows Management Framework 5.1",
                "installez Windows Management Framework 5.1",
            ),
            observed=version,
        )

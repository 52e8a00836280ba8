"""SF4xx: the agent, its entities' .MAE files and its service account."""

from __future__ import annotations

import re
from collections.abc import Iterator

from sagefleet import failed_install, versions
from sagefleet.agent.connection.options import dotnet_pattern
from sagefleet.checks.base import (
    Context,
    Outcome,
    check,
    failed,
    not_applicable,
    passed,
    unknown,
)
from sagefleet.checks.sage import is_azure_sql
from sagefleet.facts import MaeFile, UninstallEntry
from sagefleet.findings import Severity

# Not domains: NT AUTHORITY ("AUTORITE NT" on a Windows installed in French) names built-in
# accounts, NT SERVICE virtual accounts, which reach the network as the computer account.
_AUTHORITIES = ("NT AUTHORITY", "AUTORITE NT", "NT SERVICE")
LOCAL_ACCOUNTS = re.compile(
    r"^(localsystem|\.?\\?localsystem|nt authority\\(system|localservice|networkservice|"
    r"local service|network service))$",
    re.I,
)


_DRIVE = re.compile(r"^[A-Za-z]:")


def _mae(ctx: Context, path: str) -> MaeFile | None:
    wanted = path.lower()
    return next((m for m in ctx.facts.mae_files if m.path.lower() == wanted), None)


def is_domain_account(account: str | None, computer: str | None = None) -> bool:
    """DOMAIN\\user or user@domain.tld: not a built-in account, a virtual account (NT
    SERVICE\\name), or a local one (.\\user, or COMPUTER\\user named by ``computer``, the
    server's own name: its host name, or the 15 characters of its NetBIOS name)."""
    if not account or LOCAL_ACCOUNTS.match(account.strip()):
        return False
    if "@" in account:
        return True
    domain, sep, _ = account.strip().partition("\\")
    if not sep or domain in (".", "") or domain.upper() in _AUTHORITIES:
        return False
    name = (computer or "").split(".")[0].upper()
    return not name or domain.upper() not in (name, name[:15])


@check("SF401")
def mae_exists(ctx: Context) -> Iterator[Outcome]:
    for entity in ctx.entities:
        if not entity.mae_path:
            continue
        mae = _mae(ctx, entity.mae_path)
        if mae is None:
            yield unknown(
                ctx.t(f"{entity.mae_path} not examined", f"{entity.mae_path} non examiné"),
                entity=entity.name,
            )
        elif mae.exists:
            yield passed(
                ctx.t(f"{mae.path} ({mae.size} bytes)", f"{mae.path} ({mae.size} octets)"),
                entity=entity.name,
                observed=mae.path,
            )
        elif not mae.verifiable:
            # A WinRM session has no credentials for the file server (the second hop).
            yield unknown(
                ctx.t(
                    f"{mae.path} is on the network: not verifiable from a remote session "
                    "(it holds no credentials for the file server)",
                    f"{mae.path} est sur le réseau : invérifiable depuis une session distante "
                    "(elle n'a pas d'identifiants pour le serveur de fichiers)",
                ),
                entity=entity.name,
                remediation=ctx.t(
                    "run the offline facts script (sagefleet facts-script --host <host>) on the "
                    "server in an interactive session, or check the path from the agent's "
                    "service account",
                    "lancez le script de faits hors ligne (sagefleet facts-script --host "
                    "<hôte>) sur le serveur dans une session interactive, ou vérifiez le chemin "
                    "avec le compte de service de l'agent",
                ),
                observed=mae.path,
            )
        elif mae.drive_type is None and _DRIVE.match(mae.path):
            # Drive letters belong to a logon session: a letter the WinRM session does not
            # have, and no persistent mapping of it, may be a network drive mapped by a user
            # not logged on, or a wrong letter; nothing here tells which.
            letter = mae.path[:2].upper()
            yield unknown(
                ctx.t(
                    f"{mae.path}: {letter} is not a drive of this server's session and no "
                    "logged-on user maps it persistently: a network drive mapped in another "
                    "user's session, or a wrong letter; not verifiable from here",
                    f"{mae.path} : {letter} n'est pas un lecteur de la session et aucun "
                    "utilisateur connecté ne le mappe de façon persistante : un lecteur réseau "
                    "mappé dans la session d'un autre utilisateur, ou une lettre erronée ; "
                    "invérifiable d'ici",
                ),
                ctx.t(
                    "give mae_path as a UNC path (\\\\server\\share\\...: a service never "
                    "sees a user's mapped drives, see SF402), or correct the letter (in Sage, "
                    "File > Properties shows the path)",
                    "indiquez mae_path en chemin UNC (\\\\serveur\\partage\\... : un service "
                    "ne voit jamais les lecteurs mappés d'un utilisateur, voir SF402), ou "
                    "corrigez la lettre (dans Sage, Fichier > Propriétés indique le chemin)",
                ),
                entity=entity.name,
                observed=mae.path,
            )
        else:
            yield failed(
                ctx.t(
                    f"{mae.path} does not exist on the server",
                    f"{mae.path} n'existe pas sur le serveur",
                ),
                ctx.t(
                    "correct mae_path for this entity in the inventory (open the company in "
                    "Sage: File > Properties shows the path)",
                    "corrigez mae_path pour cette entité dans l'inventaire (dans Sage, "
                    "Fichier > Propriétés indique le chemin)",
                ),
                entity=entity.name,
                observed=mae.path,
            )


@check("SF402")
def network_mae_account(ctx: Context) -> Iterator[Outcome]:
    account = ctx.service_account or ctx.facts.agent.account
    for entity in ctx.entities:
        mae = _mae(ctx, entity.mae_path) if entity.mae_path else None
        if mae is None or not mae.on_network:
            continue
        if is_domain_account(account, ctx.facts.identity.hostname):
            yield passed(
                ctx.t(
                    f"{mae.path} is on the network; the service runs as {account}",
                    f"{mae.path} est sur le réseau ; le service tourne sous {account}",
                ),
                entity=entity.name,
                observed=account,
            )
        else:
            yield failed(
                ctx.t(
                    f"{mae.path} is on a network drive or share, and the service account is "
                    f"{account or 'not set'}: LocalSystem presents the computer account "
                    "(DOMAIN\\SERVER$) to the file server, and so does a virtual account "
                    "(NT SERVICE\\name), a local account (.\\user, SERVER\\user) has no "
                    "network identity at all, and a mapped drive letter belongs to a user's "
                    "logon session, which a service never sees",
                    f"{mae.path} est sur un lecteur réseau ou un partage, et le compte de "
                    f"service est {account or 'non défini'} : LocalSystem se présente au "
                    "serveur de fichiers sous le compte de l'ordinateur (DOMAINE\\SERVEUR$), "
                    "tout comme un compte virtuel (NT SERVICE\\nom), un compte local "
                    "(.\\utilisateur, SERVEUR\\utilisateur) n'a aucune identité réseau, et "
                    "une lettre de lecteur mappé appartient à la session d'un utilisateur, "
                    "qu'un service ne voit jamais",
                ),
                ctx.t(
                    "set sagefleet_agent_service_account to a domain account (DOMAIN\\user, "
                    "password in ansible-vault) with read/write on the Sage file and its SQL "
                    'database and the "Log on as a service" right, and use the UNC path '
                    "(\\\\server\\share\\...) instead of a mapped letter",
                    "définissez sagefleet_agent_service_account avec un compte de domaine "
                    "(DOMAINE\\utilisateur, mot de passe dans ansible-vault) ayant lecture/"
                    "écriture sur le fichier Sage et sa base SQL et le droit « Ouvrir une "
                    "session en tant que service », et utilisez le chemin UNC plutôt qu'une "
                    "lettre",
                ),
                entity=entity.name,
                observed={"path": mae.path, "account": account},
            )
    if account and not LOCAL_ACCOUNTS.match(account.strip()):
        yield _logon_right(ctx, account)


def _logon_right(ctx: Context, account: str) -> Outcome:
    """ "Log on as a service" for a service account that is not built in (those hold it)."""
    right = ctx.facts.service_logon_right
    observed: dict[str, str | bool | None] = {"account": account}
    if right is None or right.account.lower() != account.lower():
        return unknown(
            ctx.t(
                f"whether {account} may log on as a service was not reported",
                f"le droit d'ouvrir une session en tant que service de {account} n'a pas été "
                "remonté",
            ),
            observed=observed,
            severity=Severity.WARNING,
        )
    observed.update(sid=right.sid, granted=right.granted)
    if right.granted is None:
        return unknown(
            ctx.t(
                f'could not read "Log on as a service" for {account}: {right.error}',
                f"lecture impossible du droit « Ouvrir une session en tant que service » de "
                f"{account} : {right.error}",
            ),
            ctx.t(
                "check the account name; the local security policy is read with "
                "secedit /export (administrators only)",
                "vérifiez le nom du compte ; la stratégie de sécurité locale est lue avec "
                "secedit /export (administrateurs seulement)",
            ),
            observed=observed,
            severity=Severity.WARNING,
        )
    if right.granted:
        return passed(
            ctx.t(
                f'{account} holds "Log on as a service" (SeServiceLogonRight)',
                f"{account} a le droit « Ouvrir une session en tant que service » "
                "(SeServiceLogonRight)",
            ),
            observed=observed,
        )
    return failed(
        ctx.t(
            f'{account} does not hold "Log on as a service" (SeServiceLogonRight) on this '
            "server: a service cannot start under it (error 1069); only the account itself "
            "was looked for, not the groups it belongs to",
            f"{account} n'a pas le droit « Ouvrir une session en tant que service » "
            "(SeServiceLogonRight) sur ce serveur : un service ne peut pas démarrer sous ce "
            "compte (erreur 1069) ; seul le compte lui-même a été cherché, pas ses groupes",
        ),
        ctx.t(
            "sagefleet's deploy grants it (secedit) when it sets the service account; where a "
            'domain Group Policy defines "Log on as a service", that local grant is replaced '
            f"at the next policy refresh: add {account} to that policy (User Rights "
            "Assignment)",
            "le déploiement de sagefleet l'accorde (secedit) en définissant le compte de "
            "service ; si une stratégie de groupe du domaine définit ce droit, l'octroi local "
            f"est remplacé au prochain rafraîchissement : ajoutez {account} à cette stratégie "
            "(Attribution des droits utilisateur)",
        ),
        observed=observed,
        severity=Severity.WARNING,
    )


@check("SF403")
def agent_state(ctx: Context) -> Iterator[Outcome]:
    agent = ctx.facts.agent
    if not agent.installed:
        yield passed(
            ctx.t("agent not installed yet", "agent pas encore installé"),
            observed={"installed": False},
        )
        return
    observed = {
        "installed": True,
        "version": agent.version,
        "state": agent.state,
        "start_mode": agent.start_mode,
        "account": agent.account,
    }
    if (agent.state or "").lower() != "running":
        yield failed(
            ctx.t(
                f"agent {agent.version} installed but {agent.state}",
                f"agent {agent.version} installé mais {agent.state}",
            ),
            ctx.t(
                f"start it (Start-Service {agent.service_name}) and read its log if it stops",
                f"démarrez-le (Start-Service {agent.service_name}) et lisez son journal s'il "
                "s'arrête",
            ),
            observed=observed,
            severity=Severity.WARNING,
        )
        return
    target = ctx.target_version
    if target and agent.version and versions.older(target, agent.version):
        message = ctx.t(
            f"agent {agent.version} running; a deploy would go back to {target}",
            f"agent {agent.version} en marche ; un déploiement reviendrait à {target}",
        )
    elif target and agent.version and not versions.same(agent.version, target):
        message = ctx.t(
            f"agent {agent.version} running; will be upgraded to {target}",
            f"agent {agent.version} en marche ; sera mis à jour en {target}",
        )
    else:
        message = ctx.t(
            f"agent {agent.version} running ({agent.account})",
            f"agent {agent.version} en marche ({agent.account})",
        )
    yield passed(message, observed=observed)


@check("SF405")
def undescribed_install(ctx: Context) -> Iterator[Outcome]:
    """An install of the vendor's agent that the agent profile does not describe (the
    vendor's wizard names its service and folder its own way): a deploy would install a
    second agent beside it."""
    installs, described = ctx.facts.agent_installs, ctx.agent_uninstall_pattern
    if not ctx.agent_vendor_pattern:
        yield not_applicable(
            ctx.t(
                "the agent profile gives no uninstall.vendor_pattern",
                "le profil de l'agent ne donne pas uninstall.vendor_pattern",
            )
        )
        return
    if installs is None:
        yield unknown(
            ctx.t(
                "these facts do not list the installs of the vendor's agent (a collector "
                "older than this check)",
                "ces faits ne listent pas les installations de l'agent (un collecteur "
                "antérieur à ce contrôle)",
            ),
            severity=Severity.WARNING,
        )
        return
    agent = ctx.facts.agent
    if agent.candidates:  # the deploy refuses to choose, and says so
        yield unknown(
            ctx.t(
                f"the agent profile's service lookup matched several services "
                f"({', '.join(agent.candidates)}): which install it describes cannot be told",
                f"la recherche du service du profil de l'agent a trouvé plusieurs services "
                f"({', '.join(agent.candidates)}) : impossible de dire quelle installation il "
                "décrit",
            ),
            severity=Severity.WARNING,
        )
        return
    found = (agent.path or "").lower() if agent.installed else ""

    def describes(install: UninstallEntry) -> bool:
        # Its name, or the folder of the service the profile found: the same install.
        folder = (install.install_location or "").lower().rstrip("\\")
        return bool(described and dotnet_pattern(described).search(install.display_name)) or bool(
            folder and found.startswith(folder + "\\")
        )

    others = [i for i in installs if not describes(i)]
    shown = [
        f"{i.display_name} {i.display_version or '?'} ({i.install_location or '?'})" for i in others
    ]
    if others:
        yield failed(
            ctx.t(
                f"installed, and not the install the agent profile describes: "
                f"{'; '.join(shown)}: a deploy would install a second agent beside it, both "
                "serving the same companies",
                f"installé, et ce n'est pas l'installation que décrit le profil de l'agent : "
                f"{'; '.join(shown)} : un déploiement installerait un second agent à côté, "
                "servant les mêmes sociétés",
            ),
            ctx.t(
                "learn the agent profile from this install (sagefleet agent learn -i "
                "INVENTORY -l HOST -o agent-profile.yml, then sagefleet_agent_profile), or "
                "uninstall it first",
                "apprenez le profil de l'agent sur cette installation (sagefleet agent learn "
                "-i INVENTAIRE -l HÔTE -o agent-profile.yml, puis sagefleet_agent_profile), "
                "ou désinstallez-la d'abord",
            ),
            observed=[i.display_name for i in others],
        )
    else:
        yield passed(
            ctx.t(
                f"{len(installs)} install(s) of the vendor's agent, each the one the agent "
                "profile describes",
                f"{len(installs)} installation(s) de l'agent, chacune celle que décrit le "
                "profil de l'agent",
            )
            if installs
            else ctx.t("no install of the vendor's agent", "aucune installation de l'agent"),
            observed=[i.display_name for i in installs],
        )


@check("SF406")
def failed_install_left(ctx: Context) -> Iterator[Outcome]:
    """The agent an earlier deploy's failed fresh install left (its record in the backup
    folder, read by the facts script): a deploy fails this host, whatever
    sagefleet_deploy_fail_on_blocked says, until it is uninstalled or accepted."""
    found, agent, accept = ctx.facts.failed_install, ctx.facts.agent, ctx.accept_failed_install
    if found is None:
        yield unknown(
            ctx.t(
                "these facts do not hold the failed-install record (a collector older than "
                "this check)",
                "ces faits ne contiennent pas le relevé d'installation échouée (un collecteur "
                "antérieur à ce contrôle)",
            ),
            severity=Severity.WARNING,
        )
        return
    accepted = ctx.t(f"accepted ({failed_install.ACCEPT})", f"accepté ({failed_install.ACCEPT})")
    try:
        failed_run = failed_install.found_record(
            found.path, exists=found.exists, text=found.text, error=found.error
        )
    except failed_install.RecordUnreadable as exc:
        said = ctx.t(
            failed_install.unreadable_said(found.path, exc.why),
            f"le relevé d'installation échouée {found.path} ne peut pas être lu ({exc.why}) : "
            "la première installation d'un déploiement précédent a échoué sur cet hôte",
        )
        if accept:
            yield passed(f"{said}; {accepted}", observed={"path": found.path, "error": exc.why})
            return
        yield failed(
            said,
            ctx.t(
                failed_install.UNREADABLE_FIX,
                "vérifiez l'agent (désinstallez-le si cette installation l'a laissé), "
                f"supprimez le relevé et déployez à nouveau ; ou déployez une fois avec "
                f"{failed_install.ACCEPT}: true pour garder l'agent tel quel",
            ),
            observed={"path": found.path, "error": exc.why},
        )
        return
    if failed_run is None:
        yield passed(
            ctx.t("no failed fresh install recorded", "aucune première installation échouée"),
            observed={"path": found.path, "exists": False},
        )
        return
    observed = {"path": found.path, "run": failed_run.run, "recorded_utc": failed_run.recorded_utc}
    run_fr = f"l'exécution de déploiement {failed_run.run} du {failed_run.recorded_utc}"
    if not agent.installed:
        yield passed(
            ctx.t(
                f"{failed_run.run_said} failed to install {failed_run.target_version}; no "
                "agent is left: a deploy installs it afresh",
                f"{run_fr} n'a pas pu installer {failed_run.target_version} ; aucun agent "
                "n'est resté : un déploiement l'installe à neuf",
            ),
            observed=observed,
        )
        return
    state = agent.state or ctx.t("in an unknown state", "dans un état inconnu")
    at = ctx.t(f" at {agent.version}", f" en {agent.version}") if agent.version else ""
    seen = f"{agent.service_name} {state}{at}"
    if accept:
        yield passed(
            ctx.t(
                f"the agent left by the failed install of {failed_run.run_said} ({seen}) "
                f"{accepted}",
                f"l'agent laissé par l'installation échouée de {run_fr} ({seen}) {accepted}",
            ),
            observed=observed,
        )
        return
    found_agent = failed_install.agent_said(agent.service_name or "", agent.state, agent.version)
    yield failed(
        ctx.t(
            failed_run.refused(found.path, found_agent),
            f"{run_fr} n'a pas pu installer {failed_run.target_version} sur cet hôte "
            f"({failed_run.reason}), consigné dans {found.path} : l'agent trouvé ({seen}) "
            "n'est pas considéré comme installé, un déploiement échoue sur cet hôte",
        ),
        ctx.t(
            failed_install.FIX,
            "désinstallez-le (Programmes et fonctionnalités), puis déployez à nouveau ; ou, "
            f"pour le garder tel quel, déployez une fois avec {failed_install.ACCEPT}: true",
        ),
        observed=observed,
    )


@check("SF404")
def mae_matches_entity(ctx: Context) -> Iterator[Outcome]:
    for entity in ctx.entities:
        mae = _mae(ctx, entity.mae_path) if entity.mae_path else None
        if mae is None or not mae.exists:
            continue
        spc = entity.edition == "spc"
        expected_server = entity.sql_fqdn if spc else entity.sql_instance
        mismatches = []
        # On-premise the database usually bears the .MAE file's name; on SPC it does not
        # (BIJOU.MAE may point at xim9mokrk4q_AS274AY1ZH): never compared there, nor where
        # the .MAE itself points at Azure SQL, whatever the inventory says (SF205 says it).
        spc = spc or is_azure_sql(mae.serveur_sql)
        if (
            not spc
            and entity.database
            and mae.database
            and entity.database.lower() != mae.database.lower()
        ):
            mismatches.append(
                ctx.t(
                    f"file name {mae.database} ≠ database {entity.database} (on-premise the "
                    "database usually bears the file's name)",
                    f"nom du fichier {mae.database} ≠ base {entity.database} (on-premise la "
                    "base porte d'ordinaire le nom du fichier)",
                )
            )
        if expected_server and mae.serveur_sql:
            short = mae.serveur_sql.lower().split(",")[0].removeprefix("tcp:")
            if short not in (expected_server.lower(), expected_server.lower().split(".")[0]):
                mismatches.append(f"ServeurSQL {mae.serveur_sql} ≠ {expected_server}")
        if mismatches:
            yield failed(
                ctx.t(
                    f"{mae.path}: {'; '.join(mismatches)}", f"{mae.path} : {'; '.join(mismatches)}"
                ),
                ctx.t(
                    "check the entity's server and database in the inventory against the .MAE file",
                    "vérifiez le serveur et la base de l'entité dans "
                    "l'inventaire par rapport au fichier .MAE",
                ),
                entity=entity.name,
                observed={"serveur_sql": mae.serveur_sql, "database": mae.database},
            )
        elif spc:
            yield passed(
                ctx.t(
                    f"{mae.path} → {mae.serveur_sql} (on SPC the database name is not the "
                    "file's: not compared)",
                    f"{mae.path} → {mae.serveur_sql} (sur SPC la base ne porte pas le nom du "
                    "fichier : non comparée)",
                ),
                entity=entity.name,
            )
        else:
            yield passed(
                ctx.t(
                    f"{mae.path} → {mae.serveur_sql} / {mae.database}",
                    f"{mae.path} → {mae.serveur_sql} / {mae.database}",
                ),
                entity=entity.name,
            )

"""SF2xx: Sage 100 itself, its edition and the Objets Métiers library.

The edition's signals, strongest first: docs/checks.md, SF203.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from sagefleet.checks.base import (
    Context,
    Outcome,
    check,
    failed,
    major_minor,
    not_applicable,
    passed,
    unknown,
)
from sagefleet.facts import ComClass
from sagefleet.findings import Severity

AZURE_SQL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.database\.windows\.net$", re.I)


def sql_host(server: str | None) -> str:
    """The host part of a ServeurSQL value: ``tcp:x.database.windows.net,1433`` -> x...net."""
    text = (server or "").strip()
    text = re.sub(r"^(?:tcp|np|lpc):", "", text, flags=re.I)
    return text.split(",")[0].split("\\")[0].strip().lower()


def is_azure_sql(server: str | None) -> bool:
    return bool(AZURE_SQL.match(sql_host(server)))


@dataclass(frozen=True)
class EditionSignals:
    """What tells an SPC server from an on-premise one, and where each sign was seen."""

    mae_azure_sql: tuple[str, ...]  # .MAE files read whose ServeurSQL is Azure SQL
    mae_other_sql: tuple[str, ...]  # .MAE files read that name another SQL server
    inventory_azure_sql: tuple[str, ...]  # entities naming an Azure SQL server
    azure_vm: bool | None  # the Azure guest agent or registry key (a hint)
    declared: str | None  # the inventory's edition (entities, or sagefleet_edition)

    @property
    def azure_sql(self) -> bool:
        """The main SPC signal, seen on the host or in the inventory."""
        return bool(self.mae_azure_sql or self.inventory_azure_sql)

    def spc_signs(self, lang: str) -> list[str]:
        """The independent SPC signs seen, in words; the Azure VM counts only beside an
        Azure SQL server (alone, an Azure VM may host an on-premise install)."""
        fr = lang == "fr"
        signs = []
        if self.mae_azure_sql:
            names = ", ".join(self.mae_azure_sql)
            signs.append(f"Azure SQL dans {names}" if fr else f"Azure SQL in {names}")
        if self.inventory_azure_sql:
            names = ", ".join(self.inventory_azure_sql)
            signs.append(
                f"Azure SQL dans l'inventaire ({names})"
                if fr
                else f"Azure SQL in the inventory ({names})"
            )
        if self.azure_vm and self.azure_sql:
            signs.append("VM Azure" if fr else "Azure VM")
        return signs


def edition_signals(ctx: Context) -> EditionSignals:
    wanted = {e.mae_path.lower() for e in ctx.entities if e.mae_path}
    read = [m for m in ctx.facts.mae_files if m.exists and m.path.lower() in wanted]
    azure_vm = None
    if ctx.facts.azure_guest_agent is not None or ctx.facts.azure_registry_key is not None:
        azure_vm = bool(ctx.facts.azure_guest_agent or ctx.facts.azure_registry_key)
    inventory = []
    for entity in ctx.entities:
        server = entity.sql_fqdn or entity.sql_instance
        if is_azure_sql(server):
            inventory.append(entity.name)
    return EditionSignals(
        mae_azure_sql=tuple(m.path for m in read if is_azure_sql(m.serveur_sql)),
        mae_other_sql=tuple(
            m.path for m in read if m.serveur_sql and not is_azure_sql(m.serveur_sql)
        ),
        inventory_azure_sql=tuple(inventory),
        azure_vm=azure_vm,
        declared=ctx.host_edition,
    )


def sage_version(ctx: Context) -> tuple[str, tuple[int, int]] | None:
    """The Sage 100 Comptabilité version: Maestria.exe first, then the uninstall entry."""
    for exe in ctx.facts.sage_executables:
        if exe.name.lower() == "maestria.exe":
            parsed = major_minor(exe.product_version)
            if parsed and exe.product_version:
                return exe.product_version, parsed
    pattern = re.compile(ctx.sage.product_pattern, re.I)
    for entry in ctx.facts.sage_uninstall:
        if pattern.search(entry.display_name):
            parsed = major_minor(entry.display_version)
            if parsed and entry.display_version:
                return entry.display_version, parsed
    return None


def _sage_found(ctx: Context) -> bool:
    pattern = re.compile(ctx.sage.product_pattern, re.I)
    return bool(
        ctx.facts.sage_products
        or any(e.name.lower() == "maestria.exe" for e in ctx.facts.sage_executables)
        or any(pattern.search(e.display_name) for e in ctx.facts.sage_uninstall)
    )


@check("SF201")
def sage_installed(ctx: Context) -> Iterator[Outcome]:
    if _sage_found(ctx):
        names = [p.product for p in ctx.facts.sage_products] or [
            e.display_name for e in ctx.facts.sage_uninstall
        ]
        yield passed(
            ctx.t(
                f"found: {', '.join(names) or 'Maestria.exe'}",
                f"trouvé : {', '.join(names) or 'Maestria.exe'}",
            ),
            observed=names,
        )
    else:
        yield failed(
            ctx.t(
                "no Sage 100 Comptabilité found (registry, uninstall entries, Maestria.exe)",
                "aucun Sage 100 Comptabilité trouvé (registre, programmes installés, Maestria.exe)",
            ),
            ctx.t(
                "run sagefleet on the server where Sage 100 Comptabilité is installed, or "
                "install Sage 100 first",
                "lancez sagefleet sur le serveur où Sage 100 Comptabilité est installé, ou "
                "installez d'abord Sage 100",
            ),
        )


def _generation(ctx: Context) -> tuple[list[str], list[str]]:
    """Signs of the 100c generation (key names ending in "100c", Objets100c registered)
    and of the older i7 one (a product or uninstall name with "i7")."""
    signs_100c = [p.product for p in ctx.facts.sage_products if p.product.lower().endswith("100c")]
    signs_100c += sorted(
        {
            c.progid
            for c in ctx.facts.objets_metiers_classes or ()
            if c.progid and c.progid.lower().startswith("objets100c.")
        }
    )
    i7 = re.compile(r"\bi7\b", re.I)
    signs_i7 = [p.product for p in ctx.facts.sage_products if i7.search(p.product)]
    signs_i7 += [e.display_name for e in ctx.facts.sage_uninstall if i7.search(e.display_name)]
    return signs_100c, signs_i7


@check("SF202")
def sage_supported(ctx: Context) -> Iterator[Outcome]:
    if not _sage_found(ctx):
        yield unknown(ctx.t("Sage 100 not found (see SF201)", "Sage 100 introuvable (voir SF201)"))
        return
    found = sage_version(ctx)
    if found is None:
        yield unknown(
            ctx.t("the Sage 100 version could not be read", "la version de Sage 100 est illisible"),
            ctx.t(
                "check Maestria.exe's properties (Details, Product version)",
                "vérifiez les propriétés de Maestria.exe (Détails, Version du produit)",
            ),
        )
        return
    text, (major, _minor) = found
    if major < ctx.sage.minimum_major:
        yield failed(
            ctx.t(
                f"Sage 100 {text} is older than version {ctx.sage.minimum_major}",
                f"Sage 100 {text} est antérieur à la version {ctx.sage.minimum_major}",
            ),
            ctx.t(
                f"upgrade Sage 100 to version {ctx.sage.minimum_major} or later; the agent "
                "does not support older versions",
                f"mettez Sage 100 à jour en version {ctx.sage.minimum_major} ou plus ; "
                "l'agent ne prend pas en charge les versions antérieures",
            ),
            observed=text,
        )
        return
    signs_100c, signs_i7 = _generation(ctx)
    if major in ctx.sage.i7_majors and not signs_100c:
        # The Sage 100 i7 generation (2013-2015, Objets100.dll) was numbered 7.x/8.x too.
        upgrade = ctx.t(
            "upgrade to Sage 100c (version 7 or later of the 100c generation); if this is "
            "already Sage 100c, check that its Objets Métiers are installed (SF204)",
            "passez à Sage 100c (version 7 ou plus de la génération 100c) ; si c'est déjà "
            "Sage 100c, vérifiez que ses Objets Métiers sont installés (SF204)",
        )
        if signs_i7:
            yield failed(
                ctx.t(
                    f"Sage 100 {text} is the older i7 generation ({', '.join(signs_i7)}), "
                    "not the 100c generation the agent needs",
                    f"Sage 100 {text} est de l'ancienne génération i7 ({', '.join(signs_i7)}), "
                    "pas de la génération 100c qu'exige l'agent",
                ),
                upgrade,
                observed={"sage": text, "i7": signs_i7},
            )
        else:
            yield unknown(
                ctx.t(
                    f"Sage 100 {text}: no sign of the 100c generation (no registry key "
                    'ending in "100c", no Objets100c class registered); the older i7 '
                    "generation was numbered 7.x and 8.x too",
                    f"Sage 100 {text} : aucun signe de la génération 100c (pas de clé de "
                    "registre finissant par « 100c », pas de classe Objets100c "
                    "enregistrée) ; l'ancienne génération i7 était aussi numérotée 7.x et 8.x",
                ),
                upgrade,
                observed={"sage": text},
            )
        return
    version = ctx.sage.for_major(major)
    if version is None:
        known = ", ".join(str(v.major) for v in ctx.sage.versions)
        yield failed(
            ctx.t(
                f"Sage 100 {text}: no agent installer is known for major version {major} "
                f"(known: {known})",
                f"Sage 100 {text} : aucun installeur de l'agent connu pour la version {major} "
                f"(connues : {known})",
            ),
            ctx.t(
                "get the installer for this version from the vendor and add it to "
                "sagefleet_sage_catalog",
                "obtenez l'installeur de cette version auprès de l'éditeur et ajoutez-le à "
                "sagefleet_sage_catalog",
            ),
            observed=text,
        )
        return
    yield passed(
        ctx.t(
            f"Sage 100 {text} → installer {version.installer}",
            f"Sage 100 {text} → installeur {version.installer}",
        ),
        observed={"sage": text, "installer": version.installer},
    )


def _onprem_om_entries(ctx: Context) -> list[str]:
    pattern = re.compile(ctx.sage.objets_metiers_pattern, re.I)
    return [
        e.display_name for e in ctx.facts.objets_metiers_uninstall if pattern.search(e.display_name)
    ]


@check("SF203")
def spc_without_onprem_om(ctx: Context) -> Iterator[Outcome]:
    signals = edition_signals(ctx)
    signs = signals.spc_signs(ctx.lang)
    entries = _onprem_om_entries(ctx)
    # On-premise by the inventory, and no Azure SQL anywhere: an Azure VM alone may host an
    # on-premise install, where the on-premise package belongs.
    if not signals.azure_sql and signals.declared == "onpremise":
        yield not_applicable(
            ctx.t(
                "on-premise server: no Azure SQL server in its .MAE files or its entities",
                "serveur on-premise : aucun serveur Azure SQL dans ses .MAE ni ses entités",
            ),
            observed={"edition": "onpremise"},
        )
        return
    if not entries:
        yield passed(
            ctx.t(
                "no on-premise Objets Métiers package among the installed programs",
                "aucun paquet Objets Métiers on-premise parmi les programmes installés",
            ),
            observed={"spc_signs": signs},
        )
        return
    if not signs and not signals.azure_vm:
        yield unknown(
            ctx.t(
                f"Objets Métiers package installed ({', '.join(entries)}), and the edition is "
                "unknown: no entity in the inventory, no Azure sign on the server",
                f"paquet Objets Métiers installé ({', '.join(entries)}), et l'édition est "
                "inconnue : aucune entité dans l'inventaire, aucun signe Azure sur le serveur",
            ),
            ctx.t(
                "add the host's sagefleet_entities (see SF903)",
                "ajoutez les sagefleet_entities de l'hôte (voir SF903)",
            ),
            observed={"packages": entries},
        )
        return
    # That the package is the on-premise build rests on its uninstall name alone, and the
    # names of the on-premise and SPC builds are not public: a warning, however sure the
    # signs are that the server is SPC.
    seen = ", ".join(signs) or ctx.t("Azure VM only", "VM Azure seulement")
    yield failed(
        ctx.t(
            f"an Objets Métiers package named like the on-premise one is installed "
            f"({', '.join(entries)}) on what looks like an SPC server ({seen}); its name "
            "alone cannot tell the on-premise build from the SPC one",
            f"un paquet Objets Métiers nommé comme celui on-premise est installé "
            f"({', '.join(entries)}) sur ce qui semble être un serveur SPC ({seen}) ; son nom "
            "seul ne distingue pas la version on-premise de la version SPC",
        ),
        ctx.t(
            "if it is the on-premise Objets Métiers (not installed with the VM), uninstall "
            "it, then update the VM to the installed Sage version so the SPC build comes "
            "back; if it is the SPC build, waive SF203 with that reason",
            "s'il s'agit des Objets Métiers on-premise (non installés avec la VM), "
            "désinstallez-les, puis mettez à jour la VM vers la version de Sage installée "
            "pour retrouver la version SPC ; s'il s'agit de la version SPC, posez une "
            "dérogation SF203 motivée",
        ),
        observed={"packages": entries, "spc_signs": signs},
        severity=Severity.WARNING,
    )


def _dlls(classes: tuple[ComClass, ...]) -> list[tuple[str, ComClass, list[str]]]:
    """Each DLL the classes point at, once: (path, first class, where it is registered)."""
    found: dict[str, tuple[str, ComClass, list[str]]] = {}
    for item in classes:
        path = (item.server or "").strip().strip('"')
        key = path.lower()
        if key not in found:
            found[key] = (path, item, [])
        found[key][2].append(f"{item.name} ({item.view}-bit)")
    return list(found.values())


@check("SF204")
def om_version(ctx: Context) -> Iterator[Outcome]:
    found = sage_version(ctx)
    if found is None:
        yield unknown(
            ctx.t(
                "Sage version not available (see SF201/SF202)",
                "version de Sage indisponible (voir SF201/SF202)",
            )
        )
        return
    text, (major, _minor) = found
    version = ctx.sage.for_major(major)
    expected = major_minor(version.objets_metiers) if version else None
    if version is None or expected is None:
        yield unknown(
            ctx.t(
                f"no Objets Métiers reference for Sage {text}",
                f"aucune référence Objets Métiers pour Sage {text}",
            )
        )
        return
    classes = ctx.facts.objets_metiers_classes
    if classes is None:
        yield unknown(
            ctx.t(
                "the Objets Métiers COM classes were not reported",
                "les classes COM des Objets Métiers n'ont pas été remontées",
            )
        )
        return
    install = ctx.t(
        f"install the Objets Métiers of Sage {major} ({version.objets_metiers} or a later "
        f"{major}.x), from the Sage installation media ('Objets métiers' component)",
        f"installez les Objets Métiers de Sage {major} ({version.objets_metiers} ou une "
        f"{major}.x plus récente), depuis le support d'installation Sage (composant "
        "« Objets métiers »)",
    )
    if not classes:
        yield unknown(
            ctx.t(
                "the Objets Métiers COM classes (Cpta, Cial) are registered in neither "
                "registry view: 'class not registered' (0x80040154) for the agent",
                "les classes COM des Objets Métiers (Cpta, Cial) ne sont enregistrées dans "
                "aucune vue du registre : « classe non enregistrée » (0x80040154) pour l'agent",
            ),
            install,
        )
        return
    for path, item, where in _dlls(classes):
        observed = {"path": path, "file_version": item.file_version, "classes": where}
        if not item.exists:
            yield unknown(
                ctx.t(
                    f"the Objets Métiers are registered with {path or '(no path)'} "
                    f"({', '.join(where)}), and that file is missing",
                    f"les Objets Métiers sont enregistrés avec {path or '(aucun chemin)'} "
                    f"({', '.join(where)}), et ce fichier est absent",
                ),
                install,
                observed=observed,
            )
            continue
        actual = major_minor(item.file_version)
        if actual is None:
            yield unknown(
                ctx.t(
                    f"{path}: version unreadable ({item.file_version!r})",
                    f"{path} : version illisible ({item.file_version!r})",
                ),
                observed=observed,
            )
        elif actual[0] == major and actual >= expected:
            yield passed(
                ctx.t(
                    f"{path} {item.file_version} goes with Sage {text} "
                    f"(same major, {version.objets_metiers} or later)",
                    f"{path} {item.file_version} va avec Sage {text} "
                    f"(même version majeure, {version.objets_metiers} ou plus)",
                ),
                observed=observed,
            )
        else:
            yield failed(
                ctx.t(
                    f"{path} {item.file_version} does not go with Sage {text} "
                    f"(expected {major}.x, {version.objets_metiers} or later)",
                    f"{path} {item.file_version} ne va pas avec Sage {text} "
                    f"(attendu {major}.x, {version.objets_metiers} ou plus)",
                ),
                install,
                observed=observed,
            )


@check("SF205")
def edition_matches(ctx: Context) -> Iterator[Outcome]:
    signals = edition_signals(ctx)
    declared = signals.declared
    observed = {
        "edition": declared,
        "azure_sql": list(signals.mae_azure_sql),
        "other_sql": list(signals.mae_other_sql),
        "azure_vm": signals.azure_vm,
    }
    if declared is None:
        yield unknown(
            ctx.t(
                "no entity edition in the inventory", "aucune édition d'entité dans l'inventaire"
            ),
            ctx.t(
                "add the host's sagefleet_entities (see SF903)",
                "ajoutez les sagefleet_entities de l'hôte (voir SF903)",
            ),
            observed=observed,
        )
    elif declared == "spc" and signals.mae_azure_sql:
        yield passed(
            ctx.t(
                f"SPC: {', '.join(signals.mae_azure_sql)} point at Azure SQL",
                f"SPC : {', '.join(signals.mae_azure_sql)} pointent vers Azure SQL",
            ),
            observed=observed,
        )
    elif declared == "spc" and (signals.mae_other_sql or signals.azure_vm is False):
        yield failed(
            ctx.t(
                "entities say SPC, but the server shows no Azure SQL server in its .MAE files "
                f"({', '.join(signals.mae_other_sql) or 'none read'}) and is not an Azure VM"
                if not signals.azure_vm
                else "entities say SPC, but the .MAE files name another SQL server: "
                + ", ".join(signals.mae_other_sql),
                "les entités indiquent SPC, mais le serveur n'a aucun serveur Azure SQL dans ses "
                f".MAE ({', '.join(signals.mae_other_sql) or 'aucun lu'}) et n'est pas une VM "
                "Azure"
                if not signals.azure_vm
                else "les entités indiquent SPC, mais les .MAE nomment un autre serveur SQL : "
                + ", ".join(signals.mae_other_sql),
            ),
            ctx.t(
                "check the entities' edition and SQL server in the inventory",
                "vérifiez l'édition et le serveur SQL des entités dans l'inventaire",
            ),
            observed=observed,
        )
    elif declared == "spc":
        yield unknown(
            ctx.t(
                "entities say SPC; no .MAE file could be read to confirm it (the server is an "
                "Azure VM: a hint only)",
                "les entités indiquent SPC ; aucun .MAE n'a pu être lu pour le confirmer (le "
                "serveur est une VM Azure : un simple indice)",
            ),
            observed=observed,
        )
    elif signals.mae_azure_sql:
        yield failed(
            ctx.t(
                f"entities say on-premise, but {', '.join(signals.mae_azure_sql)} point at "
                "Azure SQL: a Sage Partner Cloud server",
                f"les entités indiquent on-premise, mais {', '.join(signals.mae_azure_sql)} "
                "pointent vers Azure SQL : un serveur Sage Partner Cloud",
            ),
            ctx.t(
                "set edition: spc (and azure_sql_server) for this server's entities",
                "indiquez edition: spc (et azure_sql_server) pour les entités de ce serveur",
            ),
            observed=observed,
        )
    elif signals.mae_other_sql or signals.azure_vm is False:
        yield passed(
            ctx.t(
                "on-premise: no Azure SQL server in the .MAE files, not an Azure VM"
                if not signals.azure_vm
                else "on-premise: the .MAE files name an on-premise SQL server",
                "on-premise : aucun serveur Azure SQL dans les .MAE, pas une VM Azure"
                if not signals.azure_vm
                else "on-premise : les .MAE nomment un serveur SQL on-premise",
            ),
            observed=observed,
        )
    else:
        yield unknown(
            ctx.t(
                "entities say on-premise; no .MAE file could be read, and the server is an "
                "Azure VM (or did not say)",
                "les entités indiquent on-premise ; aucun .MAE n'a pu être lu, et le serveur "
                "est une VM Azure (ou ne l'a pas dit)",
            ),
            observed=observed,
        )

"""SF2xx: Sage 100 itself, its edition and the Objets Métiers library."""

from __future__ import annotations

import re
from collections.abc import Iterator

from sagefleet.checks import Context, Outcome, check, failed, major_minor, passed, unknown
from sagefleet.findings import Severity


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


@check("SF201", Severity.ERROR, "Sage 100 installed", "Sage 100 installé")
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


@check(
    "SF202",
    Severity.ERROR,
    "Sage 100 version 7 or later, with a matching installer",
    "Sage 100 version 7 ou plus, avec un installeur correspondant",
)
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


@check(
    "SF203",
    Severity.ERROR,
    "No on-premise Objets Métiers on an SPC server",
    "Pas d'Objets Métiers on-premise sur un serveur SPC",
)
def spc_without_onprem_om(ctx: Context) -> Iterator[Outcome]:
    edition = ctx.host_edition
    if edition != "spc":
        yield passed(ctx.t("not an SPC server", "serveur non SPC"), observed=edition)
        return
    entries = _onprem_om_entries(ctx)
    if entries:
        yield failed(
            ctx.t(
                f"the on-premise Objets Métiers is installed on this SPC server: "
                f"{', '.join(entries)}",
                f"les Objets Métiers on-premise sont installés sur ce serveur SPC : "
                f"{', '.join(entries)}",
            ),
            ctx.t(
                "uninstall the on-premise Objets Métiers, then update the VM to the installed "
                "Sage version so the SPC build comes back",
                "désinstallez les Objets Métiers on-premise, puis mettez à jour la VM vers la "
                "version de Sage installée pour retrouver la version SPC",
            ),
            observed=entries,
        )
    else:
        yield passed(
            ctx.t("no on-premise Objets Métiers package", "aucun paquet Objets Métiers on-premise")
        )


@check(
    "SF204",
    Severity.ERROR,
    "Objets Métiers version matches Sage",
    "Version des Objets Métiers cohérente avec Sage",
)
def om_version(ctx: Context) -> Iterator[Outcome]:
    found = sage_version(ctx)
    files = [f for f in ctx.facts.objets_metiers_files if f.file_version]
    if found is None or not files:
        if ctx.host_edition == "onpremise" and found is not None and not files:
            yield failed(
                ctx.t("objets100c.dll not found", "objets100c.dll introuvable"),
                ctx.t(
                    "install the Objets Métiers matching your Sage version (Sage installation "
                    "media, 'Objets métiers' component)",
                    "installez les Objets Métiers de votre version de Sage (support "
                    "d'installation Sage, composant « Objets métiers »)",
                ),
            )
        else:
            yield unknown(
                ctx.t(
                    "Sage or Objets Métiers version not available",
                    "version de Sage ou des Objets Métiers indisponible",
                )
            )
        return
    text, (major, _minor) = found
    version = ctx.sage.for_major(major)
    if version is None:
        yield unknown(
            ctx.t(
                f"no Objets Métiers reference for Sage {text}",
                f"aucune référence Objets Métiers pour Sage {text}",
            )
        )
        return
    expected = major_minor(version.objets_metiers)
    for item in files:
        actual = major_minor(item.file_version)
        if actual == expected:
            yield passed(
                ctx.t(
                    f"objets100c.dll {item.file_version} matches Sage {text}",
                    f"objets100c.dll {item.file_version} correspond à Sage {text}",
                ),
                observed=item.file_version,
            )
        else:
            yield failed(
                ctx.t(
                    f"objets100c.dll {item.file_version} does not match Sage {text} "
                    f"(expected {version.objets_metiers})",
                    f"objets100c.dll {item.file_version} ne correspond pas à Sage {text} "
                    f"(attendu {version.objets_metiers})",
                ),
                ctx.t(
                    f"install Objets Métiers {version.objets_metiers} (same version as Sage)",
                    f"installez les Objets Métiers {version.objets_metiers} (même version "
                    "que Sage)",
                ),
                observed=item.file_version,
            )


@check(
    "SF205",
    Severity.WARNING,
    "Edition in the inventory matches the server",
    "Édition de l'inventaire conforme au serveur",
)
def edition_matches(ctx: Context) -> Iterator[Outcome]:
    edition = ctx.host_edition
    azure = ctx.facts.azure_guest_agent or ctx.facts.azure_registry_key or ctx.facts.spc_marker
    if edition is None:
        yield unknown(
            ctx.t("no entity edition in the inventory", "aucune édition d'entité dans l'inventaire")
        )
    elif edition == "spc" and not azure:
        yield failed(
            ctx.t(
                "entities say SPC but the server shows no Azure/SPC indicator",
                "les entités indiquent SPC mais le serveur ne montre aucun indice Azure/SPC",
            ),
            ctx.t(
                "check the entities' edition in the inventory",
                "vérifiez l'édition des entités dans l'inventaire",
            ),
            observed=edition,
        )
    elif edition == "onpremise" and ctx.facts.spc_marker:
        yield failed(
            ctx.t(
                "entities say on-premise but the server is a Sage SPC VM",
                "les entités indiquent on-premise mais le serveur est une VM Sage SPC",
            ),
            ctx.t(
                "set edition: spc for this server's entities",
                "indiquez edition: spc pour les entités de ce serveur",
            ),
            observed=edition,
        )
    else:
        yield passed(ctx.t(f"edition {edition}", f"édition {edition}"), observed=edition)

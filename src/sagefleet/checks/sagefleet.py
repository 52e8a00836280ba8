"""SF9xx: sagefleet's own configuration (waivers, how the host is reached, entities)."""

from __future__ import annotations

from collections.abc import Iterator

from sagefleet.checks.base import Context, Outcome, check, failed, passed
from sagefleet.findings import Severity


@check("SF901")
def waiver_expired(ctx: Context) -> Iterator[Outcome]:
    """Reported by the engine itself when a waiver's date is past (listed here for the docs)."""
    return iter(())


@check("SF902")
def transport(ctx: Context) -> Iterator[Outcome]:
    settings = ctx.transport
    if not settings:
        return
    scheme = str(settings.get("scheme") or "https").lower()
    method = str(settings.get("transport") or "ntlm").lower()
    validation = str(settings.get("server_cert_validation") or "validate").lower()
    encryption = str(settings.get("message_encryption") or "auto").lower()
    problems = []
    if scheme == "http" and method in ("basic", "plaintext"):
        problems.append("Basic authentication over HTTP sends the password in clear")
    if scheme == "http" and encryption == "never":
        problems.append("message encryption is off over HTTP")
    if scheme == "http" and method not in ("basic", "plaintext", "ntlm", "kerberos", "credssp"):
        problems.append(f"transport {method} over HTTP")
    if scheme == "https" and validation == "ignore":
        problems.append("certificate validation is off")
    if not problems:
        yield passed(f"{scheme}/{method}", observed={"scheme": scheme, "transport": method})
        return
    yield failed(
        "; ".join(problems),
        ctx.t(
            "use HTTPS with certificate validation (ansible_winrm_scheme: https, "
            "ansible_winrm_server_cert_validation: validate, ansible_winrm_ca_trust_path), or "
            "set sagefleet_allow_insecure_transport: true to accept the risk",
            "utilisez HTTPS avec validation du certificat (ansible_winrm_scheme: https, "
            "ansible_winrm_server_cert_validation: validate, ansible_winrm_ca_trust_path), ou "
            "positionnez sagefleet_allow_insecure_transport: true pour accepter le risque",
        ),
        observed={
            "scheme": scheme,
            "transport": method,
            "validation": validation,
            "encryption": encryption,
        },
        severity=Severity.WARNING if ctx.allow_insecure_transport else None,
    )


@check("SF903")
def entities_declared(ctx: Context) -> Iterator[Outcome]:
    """A host without entities has nothing to connect: never ready, whatever else passes
    (and the checks that read the entities cannot decide)."""
    if ctx.entities:
        names = [e.name for e in ctx.entities]
        yield passed(", ".join(names), observed=names)
        return
    yield failed(
        ctx.t(
            f"{ctx.host}: no entity in sagefleet_entities: the agent would have no company "
            "file to connect, and the Sage, edition and .MAE checks cannot decide",
            f"{ctx.host} : aucune entité dans sagefleet_entities : l'agent n'aurait aucun "
            "dossier à connecter, et les contrôles Sage, d'édition et des .MAE ne peuvent "
            "pas conclure",
        ),
        ctx.t(
            f"add sagefleet_entities to {ctx.host}'s host_vars (one per Sage company file: "
            "name, edition, mae_path, SQL server...); `playbooks/discover.yml` drafts them",
            f"ajoutez sagefleet_entities aux host_vars de {ctx.host} (une par dossier Sage : "
            "nom, édition, mae_path, serveur SQL...) ; `playbooks/discover.yml` les prépare",
        ),
        observed=[],
    )

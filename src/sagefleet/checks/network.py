"""SF3xx: outbound reachability from the host, and DNS as the bastion sees it (docs/checks.md)."""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable, Iterator, Sequence

from sagefleet.checks.base import Context, Outcome, check, failed, not_applicable, passed, unknown
from sagefleet.facts import Probe, TlsProbe
from sagefleet.findings import Severity
from sagefleet.probes import compare_dns


def _probe(ctx: Context, name: str, port: int) -> Probe | None:
    return ctx.facts.probe(name, port)


def _firewall_fix(ctx: Context, name: str, port: int, also: Sequence[str] = ()) -> str:
    names = ", ".join([name, *also])
    return ctx.t(
        f"allow outbound TCP {port} from this server to {names} on the firewall/proxy "
        "(an FQDN-based rule needs every one of these names); "
        f"test with: Test-NetConnection {name} -Port {port}",
        f"autorisez le trafic sortant TCP {port} de ce serveur vers {names} sur le pare-feu/"
        "proxy (une règle par nom de domaine doit les contenir tous) ; "
        f"testez avec : Test-NetConnection {name} -Port {port}",
    )


@check("SF301")
def dns(ctx: Context) -> Iterator[Outcome]:
    for name in sorted({e.name for e in ctx.endpoints}):
        probes = [p for p in ctx.facts.probes if p.name == name]
        if not probes:
            yield unknown(ctx.t(f"{name}: not probed", f"{name} : non testé"), observed=name)
            continue
        result = probes[0].dns
        if result.status == "ok":
            yield passed(
                f"{name} → {', '.join(result.addresses)}",
                observed={"name": name, "addresses": list(result.addresses)},
            )
        else:
            yield failed(
                ctx.t(
                    f"{name} does not resolve on the host ({result.status}: {result.error})",
                    f"{name} ne se résout pas sur l'hôte ({result.status} : {result.error})",
                ),
                ctx.t(
                    f"fix the server's DNS (Resolve-DnsName {name}); forwarders must resolve "
                    "public names",
                    f"corrigez le DNS du serveur (Resolve-DnsName {name}) ; les redirecteurs "
                    "doivent résoudre les noms publics",
                ),
                observed={"name": name, "status": result.status},
            )


@check("SF302")
def tcp(ctx: Context) -> Iterator[Outcome]:
    for endpoint in ctx.endpoints:
        probe = _probe(ctx, endpoint.name, endpoint.port)
        label = f"{endpoint.name}:{endpoint.port}"
        severity = None if endpoint.required else Severity.WARNING
        if probe is None or probe.tcp.ok is None:
            yield unknown(
                ctx.t(f"{label}: not probed", f"{label} : non testé"),
                observed=label,
                severity=severity,
            )
        elif probe.tcp.ok:
            yield passed(
                ctx.t(
                    f"{label} reachable in {probe.tcp.elapsed_ms} ms",
                    f"{label} joignable en {probe.tcp.elapsed_ms} ms",
                ),
                observed=label,
                severity=severity,
            )
        else:
            yield failed(
                ctx.t(
                    f"{label} not reachable from the host ({probe.tcp.error})",
                    f"{label} injoignable depuis l'hôte ({probe.tcp.error})",
                ),
                _firewall_fix(ctx, endpoint.name, endpoint.port, endpoint.firewall_names),
                observed={"endpoint": label, "error": probe.tcp.error},
                severity=severity,
            )


_TLS12_PLUS = ("Tls12", "Tls13", "TLSv1.2", "TLSv1.3")


def _chain_words(result: TlsProbe) -> str:
    root = result.root
    if root is None:
        return "-"
    issuers = " → ".join(c.subject or "?" for c in result.chain)
    return f"{issuers} ({root.thumbprint})"


def _tls_observed(label: str, result: TlsProbe) -> dict[str, object]:
    root = result.root
    return {
        "endpoint": label,
        "protocol": result.protocol,
        "issuer": result.issuer,
        "policy_errors": result.policy_errors,
        "chain_status": list(result.chain_status),
        "chain": [c.subject for c in result.chain],
        "root": root.subject if root else None,
        "root_thumbprint": root.thumbprint if root else None,
        "root_in_authroot": result.root_in_authroot,
        "root_in_root": result.root_in_root,
    }


@check("SF303")
def tls(ctx: Context) -> Iterator[Outcome]:
    """The chain each endpoint presents, as the host's own Windows validates it.

    Interception is read from the chain's root: a proxy that re-signs TLS presents
    its own CA, which is either not trusted (the chain fails) or was added to the
    host's Root store by hand or Group Policy, outside AuthRoot, where Windows keeps
    the roots of Microsoft's Trusted Root Program. No list of issuer names is used.
    """
    for endpoint in ctx.endpoints:
        if not endpoint.tls:
            continue
        label = f"{endpoint.name}:{endpoint.port}"
        probe = _probe(ctx, endpoint.name, endpoint.port)
        result = probe.tls_result if probe else None
        if probe is not None and probe.tcp.ok is False:
            yield unknown(
                ctx.t(
                    f"{label}: no TCP connection (see SF302)",
                    f"{label} : pas de connexion TCP (voir SF302)",
                ),
                observed=label,
            )
            continue
        if result is None or result.ok is None:
            yield unknown(
                ctx.t(f"{label}: TLS not probed", f"{label} : TLS non testé"), observed=label
            )
            continue
        observed = _tls_observed(label, result)
        names = ", ".join([endpoint.name, *endpoint.firewall_names])
        exclude = ctx.t(
            f"exclude {names} from TLS inspection on the proxy/firewall",
            f"excluez {names} de l'inspection TLS sur le proxy/pare-feu",
        )
        if not result.ok:
            yield failed(
                ctx.t(
                    f"{label}: TLS handshake failed ({result.error})",
                    f"{label} : échec de la négociation TLS ({result.error})",
                ),
                ctx.t(
                    "enable TLS 1.2 (see SF102/SF103) and check the proxy",
                    "activez TLS 1.2 (voir SF102/SF103) et vérifiez le proxy",
                ),
                observed=observed,
            )
        elif result.protocol not in _TLS12_PLUS:
            yield failed(
                ctx.t(
                    f"{label}: negotiated {result.protocol}, TLS 1.2 or later is required",
                    f"{label} : {result.protocol} négocié, TLS 1.2 ou plus est requis",
                ),
                ctx.t("enable TLS 1.2 (see SF102/SF103)", "activez TLS 1.2 (voir SF102/SF103)"),
                observed=observed,
            )
        elif result.policy_errors is None:
            yield unknown(
                ctx.t(
                    f"{label}: {result.protocol}, but the certificate chain was not reported",
                    f"{label} : {result.protocol}, mais la chaîne de certificats n'a pas été "
                    "remontée",
                ),
                ctx.t(
                    "gather the facts again with this version of sagefleet",
                    "collectez à nouveau les faits avec cette version de sagefleet",
                ),
                observed=observed,
            )
        elif "NotAvailable" in result.policy_errors:
            yield failed(
                ctx.t(
                    f"{label}: the endpoint presented no certificate",
                    f"{label} : le service n'a présenté aucun certificat",
                ),
                exclude,
                observed=observed,
            )
        elif result.chain_status or "ChainErrors" in result.policy_errors:
            statuses = ", ".join(result.chain_status) or result.policy_errors
            yield failed(
                ctx.t(
                    f"{label}: the certificate chain does not validate on this host "
                    f"({statuses}): {_chain_words(result)}; a TLS-inspecting proxy re-signs "
                    "with a CA this server does not trust, or the chain is broken",
                    f"{label} : la chaîne de certificats n'est pas valide sur cet hôte "
                    f"({statuses}) : {_chain_words(result)} ; un proxy d'inspection TLS "
                    "signe avec une autorité que ce serveur ne reconnaît pas, ou la chaîne "
                    "est cassée",
                ),
                exclude,
                observed=observed,
            )
        elif "NameMismatch" in result.policy_errors:
            yield failed(
                ctx.t(
                    f"{label}: the certificate is issued to {result.subject!r}, not to "
                    f"{endpoint.name}: the connection is intercepted or redirected",
                    f"{label} : le certificat est émis pour {result.subject!r}, pas pour "
                    f"{endpoint.name} : la connexion est interceptée ou redirigée",
                ),
                exclude,
                observed=observed,
            )
        elif result.root_in_authroot is True:
            yield passed(
                ctx.t(
                    f"{label}: {result.protocol}, chain to a public root "
                    f"(AuthRoot): {_chain_words(result)}",
                    f"{label} : {result.protocol}, chaîne vers une racine publique "
                    f"(AuthRoot) : {_chain_words(result)}",
                ),
                observed=observed,
            )
        elif result.root_in_root is True:
            root = result.root
            named = f"{root.subject} ({root.thumbprint})" if root else "?"
            yield failed(
                ctx.t(
                    f"{label}: TLS is intercepted: the chain ends in {named}, a root added to "
                    "this server's Root store (by hand, Group Policy or an enterprise), not "
                    "one of Microsoft's Trusted Root Program (AuthRoot)",
                    f"{label} : TLS est intercepté : la chaîne se termine par {named}, "
                    "une racine ajoutée au magasin Root de ce serveur (à la main, par stratégie "
                    "de groupe ou d'entreprise), pas une racine du programme de Microsoft "
                    "(AuthRoot)",
                ),
                ctx.t(
                    f"exclude {names} from TLS inspection on the proxy/firewall; if "
                    "this root is a public one your organisation distributes itself (automatic "
                    "root update turned off), waive SF303 with that reason",
                    f"excluez {names} de l'inspection TLS sur le proxy/pare-feu ; si "
                    "cette racine est publique et diffusée par votre organisation (mise à jour "
                    "automatique des racines désactivée), posez une dérogation SF303 motivée",
                ),
                observed=observed,
            )
        else:
            yield unknown(
                ctx.t(
                    f"{label}: the chain validates, but where its root is stored was not reported",
                    f"{label} : la chaîne est valide, mais le magasin de sa racine n'a pas été "
                    "remonté",
                ),
                observed=observed,
            )


AzureSqlCheck = Callable[[Context, str, str], Iterator[Outcome]]


def _each_azure_sql_server(func: AzureSqlCheck) -> Callable[[Context], Iterator[Outcome]]:
    """A check made once per entity on Azure SQL (the entity's name, its server's name);
    not applicable to a host with none."""

    @functools.wraps(func)
    def evaluate(ctx: Context) -> Iterator[Outcome]:
        servers = [(e.name, e.sql_fqdn) for e in ctx.entities if e.sql_fqdn]
        if not servers:
            yield not_applicable(
                ctx.t(
                    "no entity on Azure SQL (an on-premise SQL Server)",
                    "aucune entité sur Azure SQL (SQL Server on-premise)",
                )
            )
        for entity, fqdn in servers:
            yield from func(ctx, entity, fqdn)

    return evaluate


@check("SF304")
@_each_azure_sql_server
def azure_sql(ctx: Context, entity: str, fqdn: str) -> Iterator[Outcome]:
    probe = _probe(ctx, fqdn, 1433)
    if probe is None or probe.tcp.ok is None:
        yield unknown(ctx.t(f"{fqdn}:1433 not probed", f"{fqdn}:1433 non testé"), entity=entity)
    elif probe.tcp.ok:
        yield passed(f"{fqdn}:1433", entity=entity, observed=fqdn)
    else:
        yield failed(
            ctx.t(
                f"{fqdn}:1433 not reachable ({probe.tcp.error or probe.dns.status})",
                f"{fqdn}:1433 injoignable ({probe.tcp.error or probe.dns.status})",
            ),
            _firewall_fix(ctx, fqdn, 1433),
            entity=entity,
            observed={"server": fqdn, "error": probe.tcp.error},
        )


@check("SF305")
@_each_azure_sql_server
def azure_redirect(ctx: Context, entity: str, fqdn: str) -> Iterator[Outcome]:
    """Inside Azure (an SPC VM) Azure SQL's default connection policy is Redirect: after
    1433, the client connects to the database's node on 11000-11999, addresses no name
    resolves to. Nothing sagefleet can probe decides it, so on SPC it is a standing
    warning (waive it once the network team confirmed the rule)."""
    yield failed(
        ctx.t(
            f"{fqdn}: from inside Azure the default connection policy is "
            "Redirect, which needs outbound TCP 11000-11999 to the region's SQL "
            "addresses; these cannot be tested by name from here",
            f"{fqdn} : depuis Azure la stratégie de connexion par défaut est "
            "Redirect, qui exige le sortant TCP 11000-11999 vers les adresses SQL de la "
            "région ; elles ne peuvent pas être testées par nom d'ici",
        ),
        ctx.t(
            "allow outbound 11000-11999 to the Sql.<region> service tag (network security "
            "group, firewall), or set the server's connection policy to Proxy; then waive "
            "SF305 for this host with that reason",
            "autorisez le sortant 11000-11999 vers la balise de service Sql.<région> "
            "(groupe de sécurité réseau, pare-feu), ou passez la stratégie de connexion du "
            "serveur en Proxy ; puis posez une dérogation SF305 motivée pour cet hôte",
        ),
        entity=entity,
        observed={"server": fqdn, "ports": "11000-11999"},
    )


# The address spaces of a virtual network, where a private endpoint takes its address:
# RFC 1918, RFC 6598's shared space (Azure accepts it for a virtual network) and IPv6
# unique local addresses. Not ipaddress's is_private, which also holds the documentation
# ranges (198.51.100.0/24...), loopback and link-local: none is a private endpoint.
_PRIVATE_SPACES = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
)


def _in_private_space(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip.version == n.version and ip in n for n in _PRIVATE_SPACES)


@check("SF306")
@_each_azure_sql_server
def privatelink(ctx: Context, entity: str, fqdn: str) -> Iterator[Outcome]:
    probe = _probe(ctx, fqdn, 1433)
    bastion = (ctx.bastion_dns or {}).get(fqdn)
    if (probe is None or probe.dns.status != "ok") and bastion is None:
        yield unknown(
            ctx.t(
                f"{fqdn}: not resolved (see SF301/SF304)",
                f"{fqdn} : non résolu (voir SF301/SF304)",
            ),
            entity=entity,
        )
        return
    private = probe is not None and any(_in_private_space(a) for a in probe.dns.addresses)
    if (bastion is not None and bastion.privatelink) or private:
        yield failed(
            ctx.t(
                f"{fqdn} resolves to a private endpoint",
                f"{fqdn} se résout vers un point de terminaison privé",
            ),
            ctx.t(
                "keep connecting by the public name (logins by IP or by the privatelink "
                "name fail by design); the server must use the private DNS zone",
                "connectez-vous toujours par le nom public (les connexions par IP ou par "
                "le nom privatelink échouent) ; le serveur doit utiliser la zone DNS privée",
            ),
            entity=entity,
            observed=list(probe.dns.addresses) if probe else None,
        )
    else:
        yield passed(ctx.t(f"{fqdn}: public endpoint", f"{fqdn} : point public"), entity=entity)


@check("SF307")
def dns_agreement(ctx: Context) -> Iterator[Outcome]:
    if not ctx.bastion_dns:
        return
    for name, bastion in sorted(ctx.bastion_dns.items()):
        probes = [p for p in ctx.facts.probes if p.name == name]
        if not probes or probes[0].dns.status != "ok":
            continue
        host_addresses = list(probes[0].dns.addresses)
        explanation = compare_dns(bastion, host_addresses, lang=ctx.lang)
        if explanation:
            # Different public addresses are load balancing (S3, CDNs): information only.
            mixed = _all_private(host_addresses) != _all_private(list(bastion.addresses))
            yield failed(
                explanation,
                ctx.t(
                    "check the server's DNS servers and any hosts-file entry",
                    "vérifiez les serveurs DNS du serveur et le fichier hosts",
                ),
                observed=name,
                severity=None if mixed or not bastion.addresses else Severity.INFO,
            )
        else:
            yield passed(ctx.t(f"{name}: same answer", f"{name} : même réponse"), observed=name)


def _all_private(addresses: list[str]) -> bool:
    result = bool(addresses)
    for address in addresses:
        try:
            result = result and ipaddress.ip_address(address).is_private
        except ValueError:
            return False
    return result


@check("SF308")
def winhttp_proxy(ctx: Context) -> Iterator[Outcome]:
    proxy = ctx.facts.winhttp_proxy
    if proxy:
        yield failed(
            ctx.t(
                f"WinHTTP proxy {proxy} is set (bypass: {ctx.facts.winhttp_bypass or '-'})",
                f"proxy WinHTTP {proxy} configuré (exceptions : {ctx.facts.winhttp_bypass or '-'})",
            ),
            ctx.t(
                "make sure the proxy lets the endpoints through without TLS inspection",
                "vérifiez que le proxy laisse passer les services sans inspection TLS",
            ),
            observed=proxy,
        )
    else:
        yield passed(
            ctx.t("direct access (no WinHTTP proxy)", "accès direct (pas de proxy WinHTTP)")
        )

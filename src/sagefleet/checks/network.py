"""SF3xx: outbound reachability from the host (and DNS as the bastion sees it)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator

from sagefleet.checks import Context, Outcome, check, failed, passed, unknown
from sagefleet.facts import Probe
from sagefleet.findings import Severity
from sagefleet.network import compare_dns


def _probe(ctx: Context, name: str, port: int) -> Probe | None:
    return ctx.facts.probe(name, port)


def _firewall_fix(ctx: Context, name: str, port: int) -> str:
    return ctx.t(
        f"allow outbound TCP {port} from this server to {name} on the firewall/proxy; "
        f"test with: Test-NetConnection {name} -Port {port}",
        f"autorisez le trafic sortant TCP {port} de ce serveur vers {name} sur le pare-feu/"
        f"proxy ; testez avec : Test-NetConnection {name} -Port {port}",
    )


@check(
    "SF301",
    Severity.ERROR,
    "Endpoint names resolve on the host",
    "Les noms des services se résolvent sur l'hôte",
)
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


@check(
    "SF302",
    Severity.ERROR,
    "Endpoints reachable from the host",
    "Services joignables depuis l'hôte",
)
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
                _firewall_fix(ctx, endpoint.name, endpoint.port),
                observed={"endpoint": label, "error": probe.tcp.error},
                severity=severity,
            )


@check(
    "SF303",
    Severity.ERROR,
    "TLS 1.2+ to the endpoints, without interception",
    "TLS 1.2+ vers les services, sans interception",
)
def tls(ctx: Context) -> Iterator[Outcome]:
    patterns = [re.compile(p, re.I) for p in ctx.expected_issuers]
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
        observed = {"endpoint": label, "protocol": result.protocol, "issuer": result.issuer}
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
        elif result.protocol not in ("Tls12", "Tls13", "TLSv1.2", "TLSv1.3"):
            yield failed(
                ctx.t(
                    f"{label}: negotiated {result.protocol}, TLS 1.2 or later is required",
                    f"{label} : {result.protocol} négocié, TLS 1.2 ou plus est requis",
                ),
                ctx.t("enable TLS 1.2 (see SF102/SF103)", "activez TLS 1.2 (voir SF102/SF103)"),
                observed=observed,
            )
        elif not any(p.search(result.issuer or "") for p in patterns):
            yield failed(
                ctx.t(
                    f"{label}: TLS is intercepted (certificate issued by "
                    f"{result.issuer!r}, not a public CA)",
                    f"{label} : TLS est intercepté (certificat émis par {result.issuer!r}, "
                    "pas une autorité publique)",
                ),
                ctx.t(
                    f"exclude {endpoint.name} from TLS inspection on the proxy/firewall",
                    f"excluez {endpoint.name} de l'inspection TLS sur le proxy/pare-feu",
                ),
                observed=observed,
            )
        else:
            yield passed(f"{label}: {result.protocol}, {result.issuer}", observed=observed)


@check("SF304", Severity.ERROR, "Azure SQL reachable on 1433", "Azure SQL joignable sur 1433")
def azure_sql(ctx: Context) -> Iterator[Outcome]:
    for entity in ctx.entities:
        fqdn = entity.sql_fqdn
        if fqdn is None:
            continue
        probe = _probe(ctx, fqdn, 1433)
        if probe is None or probe.tcp.ok is None:
            yield unknown(
                ctx.t(f"{fqdn}:1433 not probed", f"{fqdn}:1433 non testé"), entity=entity.name
            )
        elif probe.tcp.ok:
            yield passed(f"{fqdn}:1433", entity=entity.name, observed=fqdn)
        else:
            yield failed(
                ctx.t(
                    f"{fqdn}:1433 not reachable ({probe.tcp.error or probe.dns.status})",
                    f"{fqdn}:1433 injoignable ({probe.tcp.error or probe.dns.status})",
                ),
                _firewall_fix(ctx, fqdn, 1433),
                entity=entity.name,
                observed={"server": fqdn, "error": probe.tcp.error},
            )


@check(
    "SF305",
    Severity.INFO,
    "Azure SQL redirect ports 11000-11999",
    "Ports de redirection Azure SQL 11000-11999",
)
def azure_redirect(ctx: Context) -> Iterator[Outcome]:
    for entity in ctx.entities:
        if entity.sql_fqdn is None:
            continue
        yield unknown(
            ctx.t(
                "inside Azure the default connection policy is Redirect: outbound TCP "
                "11000-11999 to the region's SQL addresses cannot be tested by name",
                "dans Azure la stratégie de connexion par défaut est Redirect : le trafic "
                "sortant TCP 11000-11999 vers les adresses SQL de la région ne peut pas être "
                "testé par nom",
            ),
            ctx.t(
                "allow outbound 11000-11999 to the Sql.<region> service tag, or set the "
                "server's connection policy to Proxy",
                "autorisez le sortant 11000-11999 vers la balise de service Sql.<région>, ou "
                "passez la stratégie de connexion du serveur en Proxy",
            ),
            entity=entity.name,
        )


@check("SF306", Severity.INFO, "Azure SQL private endpoint", "Point de terminaison privé Azure SQL")
def privatelink(ctx: Context) -> Iterator[Outcome]:
    for entity in ctx.entities:
        fqdn = entity.sql_fqdn
        if fqdn is None:
            continue
        probe = _probe(ctx, fqdn, 1433)
        bastion = (ctx.bastion_dns or {}).get(fqdn)
        private = False
        if probe is not None:
            for address in probe.dns.addresses:
                try:
                    private = private or ipaddress.ip_address(address).is_private
                except ValueError:
                    continue
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
                entity=entity.name,
                observed=list(probe.dns.addresses) if probe else None,
            )
        else:
            yield passed(
                ctx.t(f"{fqdn}: public endpoint", f"{fqdn} : point public"), entity=entity.name
            )


@check(
    "SF307",
    Severity.WARNING,
    "Host and bastion resolve names alike",
    "L'hôte et le bastion résolvent les noms de la même façon",
)
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


@check("SF308", Severity.INFO, "WinHTTP proxy", "Proxy WinHTTP")
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

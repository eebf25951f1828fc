"""Where a webhook may go: https (http only where allowed) to public internet addresses.

Partner managers type webhook URLs in the admin, and the server then posts to
them: without these checks a URL could make it post to itself, to the private
network or to the cloud metadata service (server-side request forgery). The
admin checks a URL when it is saved, and delivery checks it again just before
each send, because a name's DNS answers may change in between (DNS
rebinding): the sender then connects to the addresses checked here, without
resolving the name a second time.

Settings, read when a URL is checked (so tests can change them):
`WEBHOOK_ALLOW_HTTP` (default: `DEBUG`) also allows plain http;
`WEBHOOK_ALLOW_PRIVATE_HOSTS` (default: False) skips the public-address checks,
for tests and local development only.
"""

import ipaddress
import socket
import string
from dataclasses import dataclass
from urllib.parse import SplitResult, quote, urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_PORTS = {"https": 443, "http": 80}
# DNS64 resolvers on IPv6-only networks answer IPv4-only names with these
# (RFC 6052); the NAT64 gateway then connects to the IPv4 address inside.
NAT64_PREFIX = ipaddress.IPv6Network("64:ff9b::/96")


class WebhookUrlRefused(Exception):
    """The URL may not receive webhooks; `message` says why, for staff to read."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class WebhookTarget:
    """A checked URL: the name for TLS and Host, and the public addresses it had."""

    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[str, ...]


def webhook_url_validate(url: str) -> None:
    """Model field validator: refuses what `webhook_target_resolve` refuses."""
    try:
        webhook_target_resolve(url)
    except WebhookUrlRefused as refusal:
        raise ValidationError(refusal.message, code=refusal.code) from None


def webhook_target_resolve(url: str) -> WebhookTarget:
    """Check `url` and resolve its host now; raises WebhookUrlRefused."""
    parts = _url_split(url)
    host = _host_ascii(parts.hostname or "")
    port = _port(parts)
    return WebhookTarget(
        scheme=parts.scheme,
        host=host,
        port=port,
        path=_request_path(parts),
        addresses=_addresses_vet(host, port),
    )


def _request_path(parts: SplitResult) -> str:
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    # The request line is ASCII: other characters go percent-encoded, escapes stay.
    return quote(path, safe=string.punctuation)


def address_is_public(address: IPAddress) -> bool:
    """True for an address on the public internet.

    `is_global` already leaves out loopback, private (RFC 1918, fc00::/7),
    link-local, unspecified, carrier-grade NAT, documentation, benchmarking,
    6to4 and Teredo addresses; it still calls multicast, IPv6 site-local and
    the reserved IPv6 ranges (IPv4-compatible ::a.b.c.d among them) global.
    An IPv4 address inside an IPv4-mapped or NAT64 address is judged itself,
    since that is where the connection ends up.
    """
    inner = _ipv4_inside(address)
    if inner is not None:
        return address_is_public(inner)
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return False
    return address.is_global and not address.is_multicast and not address.is_reserved


def _ipv4_inside(address: IPAddress) -> ipaddress.IPv4Address | None:
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in NAT64_PREFIX:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _http_allowed() -> bool:
    return bool(getattr(settings, "WEBHOOK_ALLOW_HTTP", settings.DEBUG))


def _private_hosts_allowed() -> bool:
    return bool(getattr(settings, "WEBHOOK_ALLOW_PRIVATE_HOSTS", False))


def _url_split(url: str) -> SplitResult:
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        raise _invalid() from None
    if parts.scheme not in DEFAULT_PORTS or (parts.scheme == "http" and not _http_allowed()):
        raise WebhookUrlRefused(_scheme_message(), code="scheme")
    if "@" in parts.netloc:
        raise WebhookUrlRefused(
            _("A webhook URL may not contain a user name or password."), code="credentials"
        )
    if not parts.hostname:
        raise _invalid()
    return parts


def _scheme_message() -> str:
    if _http_allowed():
        return _("A webhook URL must start with https:// or http://.")
    return _("A webhook URL must start with https://.")


def _invalid() -> WebhookUrlRefused:
    # Django's own message (and translations) for a URL it cannot read.
    return WebhookUrlRefused(_("Enter a valid URL."), code="invalid")


def _host_ascii(host: str) -> str:
    # One spelling for DNS, TLS and the Host header: international names in IDNA.
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        raise _invalid() from None


def _port(parts: SplitResult) -> int:
    try:
        return parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError:
        raise _invalid() from None


def _addresses_vet(host: str, port: int) -> tuple[str, ...]:
    if _private_hosts_allowed():
        return _addresses_lookup(host, port)
    if _is_local_name(host):
        raise _not_public(host)
    addresses = _addresses_lookup(host, port)
    for address in addresses:
        if not address_is_public(ipaddress.ip_address(address)):
            if _ip_literal(host) is not None:
                raise _not_public(host)
            raise _resolves_not_public(host, address)
    return addresses


def _addresses_lookup(host: str, port: int) -> tuple[str, ...]:
    literal = _ip_literal(host)
    return (str(literal),) if literal is not None else _addresses_resolve(host, port)


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _is_local_name(host: str) -> bool:
    # `localhost` and its subdomains always mean this machine (RFC 6761), and
    # many resolvers answer them without asking DNS.
    name = host.rstrip(".").lower()
    return name == "localhost" or name.endswith(".localhost")


def _addresses_resolve(host: str, port: int) -> tuple[str, ...]:
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise WebhookUrlRefused(
            _("The host name %(host)s was not found in DNS.") % {"host": host},
            code="unresolvable",
        ) from None
    return tuple(dict.fromkeys(str(answer[4][0]) for answer in answers))


def _not_public(host: str) -> WebhookUrlRefused:
    return WebhookUrlRefused(
        _("%(host)s is not a public internet address.") % {"host": host}, code="not_public"
    )


def _resolves_not_public(host: str, address: str) -> WebhookUrlRefused:
    return WebhookUrlRefused(
        _("%(host)s resolves to %(address)s, which is not a public internet address.")
        % {"host": host, "address": address},
        code="not_public",
    )

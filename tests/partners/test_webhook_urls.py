"""Webhook URLs: https to public internet addresses only, checked with their DNS answers."""

import ipaddress
import socket

import pytest
from django.core.exceptions import ValidationError

from partners.webhook_urls import webhook_url_validate

PUBLIC_V4 = "93.184.215.14"
PUBLIC_V6 = "2606:2800:21f:cb07:6820:80da:af6b:8b2c"
REAL_GETADDRINFO = socket.getaddrinfo


def dns_answers(monkeypatch, answers: dict[str, list[str]]) -> list[str]:
    """Make DNS answer from `answers` (other names are not found), never from the network.

    IP literals still go to the real resolver, which answers them without DNS.
    Returns the names looked up, in order; `answers` may be changed afterwards.
    """
    asked = []

    def getaddrinfo(host, port, *args, **kwargs):
        try:
            ipaddress.ip_address(host)
        except ValueError:
            asked.append(host)
            return _answers(host, port, answers)
        return REAL_GETADDRINFO(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


def _answers(host, port, answers):
    if host not in answers:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return [
        (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0))
        if ":" in address
        else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))
        for address in answers[host]
    ]


def refusal(url: str) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        webhook_url_validate(url)
    return caught.value


@pytest.fixture(autouse=True)
def _production_settings(settings):
    settings.DEBUG = False
    settings.WEBHOOK_ALLOW_HTTP = False
    settings.WEBHOOK_ALLOW_PRIVATE_HOSTS = False


@pytest.fixture(autouse=True)
def dns(monkeypatch):
    """A DNS that knows a few names; the test reads which it was asked."""
    return dns_answers(
        monkeypatch,
        {
            "hooks.partner.example": [PUBLIC_V4, PUBLIC_V6],
            "mixed.partner.example": [PUBLIC_V4, "10.0.0.7"],
            "rebind.partner.example": ["169.254.169.254"],
            "mapped.partner.example": ["::ffff:127.0.0.1"],
            "localhost": ["127.0.0.1"],
        },
    )


@pytest.mark.parametrize(
    "url",
    [
        "ftp://hooks.partner.example/in",
        "file:///etc/passwd",
        "gopher://hooks.partner.example/_",
        "javascript:alert(1)",
        "hooks.partner.example/in",
        "http://hooks.partner.example/in",
    ],
)
def test_only_https_is_accepted_in_production(url):
    error = refusal(url)
    assert (error.code, error.message) == ("scheme", "A webhook URL must start with https://.")


@pytest.mark.parametrize(
    "url", ["https://user:secret@hooks.partner.example/in", "https://token@hooks.partner.example/"]
)
def test_a_user_name_or_password_in_the_url_is_refused(url):
    error = refusal(url)
    assert (error.code, error.message) == (
        "credentials",
        "A webhook URL may not contain a user name or password.",
    )


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "LOCALHOST.",
        "api.localhost",
        "127.0.0.1",  # loopback
        "127.1.2.3",
        "10.0.0.5",  # RFC 1918
        "172.16.3.4",
        "192.168.1.1",
        "169.254.169.254",  # link-local: the cloud metadata service
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.0",  # unspecified  # noqa: S104 (an address refused, not one bound)
        "224.0.0.1",  # multicast (is_global says yes)
        "240.0.0.1",  # reserved
        "255.255.255.255",
        "192.0.2.1",  # documentation
        "[::1]",
        "[::]",
        "[fe80::1]",
        "[fc00::1]",
        "[fd12:3456::1]",
        "[ff02::1]",  # multicast (is_global says yes)
        "[fec0::1]",  # site-local (is_global says yes)
        "[::ffff:127.0.0.1]",  # IPv4-mapped
        "[::ffff:169.254.169.254]",
        "[::ffff:10.0.0.1]",
        "[::127.0.0.1]",  # IPv4-compatible (is_global says yes)
        "[64:ff9b::a9fe:a9fe]",  # NAT64 of 169.254.169.254 (is_global says yes)
        "[2002:7f00:1::]",  # 6to4 of 127.0.0.1
    ],
)
def test_a_host_that_is_not_a_public_address_is_refused(host):
    error = refusal(f"https://{host}/hooks")
    assert error.code == "not_public"
    assert error.message.endswith("is not a public internet address.")


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("rebind.partner.example", "169.254.169.254"),
        ("mixed.partner.example", "10.0.0.7"),
        ("mapped.partner.example", "::ffff:127.0.0.1"),
    ],
)
def test_a_name_with_any_private_answer_in_dns_is_refused(host, address):
    error = refusal(f"https://{host}/hooks")
    assert error.message == (
        f"{host} resolves to {address}, which is not a public internet address."
    )


def test_a_name_that_does_not_resolve_is_refused():
    error = refusal("https://nowhere.partner.example/hooks")
    assert (error.code, error.message) == (
        "unresolvable",
        "The host name nowhere.partner.example was not found in DNS.",
    )


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.partner.example/events?token=1",
        "https://hooks.partner.example:8443/events",
        f"https://{PUBLIC_V4}/events",
        f"https://[{PUBLIC_V6}]/events",
        f"https://[::ffff:{PUBLIC_V4}]/events",  # IPv4-mapped: judged by the IPv4 inside
        "https://[64:ff9b::5db8:d70e]/events",  # NAT64 of the public IPv4 above
    ],
)
def test_a_public_https_url_is_accepted(url):
    assert webhook_url_validate(url) is None


def test_a_name_is_looked_up_in_dns_when_validated(dns):
    webhook_url_validate("https://hooks.partner.example/events")
    assert dns == ["hooks.partner.example"]


def test_http_is_accepted_where_the_setting_allows_it(settings):
    settings.WEBHOOK_ALLOW_HTTP = True
    assert webhook_url_validate("http://hooks.partner.example/events") is None
    assert refusal("ftp://hooks.partner.example/in").message == (
        "A webhook URL must start with https:// or http://."
    )


def test_http_follows_debug_when_the_setting_is_absent(settings):
    del settings.WEBHOOK_ALLOW_HTTP
    settings.DEBUG = True
    assert webhook_url_validate("http://hooks.partner.example/events") is None
    settings.DEBUG = False
    assert refusal("http://hooks.partner.example/events").code == "scheme"


def test_private_hosts_are_refused_when_their_setting_is_absent(settings):
    del settings.WEBHOOK_ALLOW_PRIVATE_HOSTS
    settings.DEBUG = True
    assert refusal("https://127.0.0.1/hooks").code == "not_public"


def test_tests_may_allow_private_hosts_but_never_credentials(settings):
    settings.WEBHOOK_ALLOW_HTTP = True
    settings.WEBHOOK_ALLOW_PRIVATE_HOSTS = True
    assert webhook_url_validate("http://127.0.0.1:8000/hooks") is None
    assert webhook_url_validate("http://localhost:8000/hooks") is None
    assert refusal("http://user:pw@127.0.0.1:8000/hooks").code == "credentials"

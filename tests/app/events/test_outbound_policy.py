"""Outbound URL safety: where Agora may send a webhook or an extension call.

In prod only https to public addresses, judged on the literal address and again on every
address the host resolves to when the call is made (a fake resolver plays the DNS, so a name
that rebinds to an inside address is caught). Dev and test also allow http to loopback, and
nothing else private. At delivery time a refused URL is a permanent failure: dead at once,
with the reason recorded."""

from __future__ import annotations

import re

import pytest

from app.events.models import DeliveryStatus
from app.security.outbound import OutboundPolicy, UrlRefused, system_resolver
from tests.app.events.harness import (
    Dispatchers,
    attempts_of,
    deliveries_of,
    record,
    subscribe,
)
from tests.support.factories import World
from tests.support.receiver import Receiver

pytestmark = pytest.mark.anyio

PUBLIC_V4 = "93.184.216.34"
PUBLIC_V6 = "2606:2800:220:1:248:1893:25c8:1946"


class FakeDns:
    """Host names to addresses, as a test says; unknown names do not resolve."""

    def __init__(self, **answers: list[str]) -> None:
        self.answers = {name.replace("_", "."): addresses for name, addresses in answers.items()}
        self.asked: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append((host, port))
        if host not in self.answers:
            raise OSError(f"{host}: Name or service not known")
        return self.answers[host]


def prod(dns: FakeDns | None = None) -> OutboundPolicy:
    return OutboundPolicy(allow_loopback=False, resolver=dns or FakeDns())


def dev(dns: FakeDns | None = None) -> OutboundPolicy:
    return OutboundPolicy(allow_loopback=True, resolver=dns or FakeDns())


REFUSED_IN_PROD = [
    "http://hooks.example.com/agora",  # not https
    "https://127.0.0.1/hooks",
    "https://127.1.2.3:8443/hooks",
    "https://localhost/hooks",
    "https://10.0.0.5/hooks",
    "https://172.16.4.1/hooks",
    "https://192.168.1.1/hooks",
    "https://169.254.169.254/latest/meta-data",  # cloud metadata
    "https://100.64.0.1/hooks",  # shared address space (carrier-grade NAT)
    "https://0.0.0.0/hooks",
    "https://224.0.0.1/hooks",  # multicast
    "https://255.255.255.255/hooks",
    "https://[::1]/hooks",
    "https://[::]/hooks",
    "https://[fe80::1]/hooks",  # link-local
    "https://[fc00::1]/hooks",  # unique local
    "https://[ff02::1]/hooks",  # multicast
    "https://[::ffff:127.0.0.1]/hooks",  # IPv4-mapped loopback
    "https://[::ffff:10.0.0.1]/hooks",
    "https://[::ffff:169.254.169.254]/hooks",
    "https://[64:ff9b::a9fe:a9fe]/hooks",  # NAT64 of 169.254.169.254
    "https://[64:ff9b::a00:1]/hooks",  # NAT64 of 10.0.0.1
    "https://[64:ff9b:1::a00:1]/hooks",  # local-use NAT64
    "https://[2002:a00:1::1]/hooks",  # 6to4 of 10.0.0.1
    "https://[::a00:1]/hooks",  # IPv4-compatible 10.0.0.1
    "https://[::ffff:0:a00:1]/hooks",  # IPv4-translated 10.0.0.1
    "https://user:pw@hooks.example.com/agora",  # credentials
    "https://hooks.example.com/agora#frag",
    "https://hooks.example.com:0/agora",
    "https:///agora",
    "ftp://hooks.example.com/agora",
    "",
    "https://hooks.example.com/" + "a" * 2000,
]


@pytest.mark.parametrize("url", REFUSED_IN_PROD)
async def test_prod_refuses(url: str) -> None:
    dns = FakeDns(hooks_example_com=[PUBLIC_V4])
    with pytest.raises(UrlRefused):
        prod(dns).check_url(url)
    with pytest.raises(UrlRefused):
        await prod(dns).resolve_target(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/agora",
        "https://hooks.example.com:8443/agora?shop=1",
        f"https://{PUBLIC_V4}/agora",
        f"https://[{PUBLIC_V6}]/agora",
        "https://[64:ff9b::5db8:d822]/agora",  # NAT64 of a public address
    ],
)
async def test_prod_allows_https_to_public_addresses(url: str) -> None:
    dns = FakeDns(hooks_example_com=[PUBLIC_V4, PUBLIC_V6])
    prod(dns).check_url(url)
    await prod(dns).resolve_target(url)


@pytest.mark.parametrize(
    ("addresses", "inside"),
    [
        (["127.0.0.1"], "127.0.0.1"),
        (["10.1.2.3"], "10.1.2.3"),
        (["169.254.169.254"], "169.254.169.254"),
        (["::1"], "::1"),
        (["::ffff:127.0.0.1"], "::ffff:7f00:1"),
        (["fe80::1%eth0"], "fe80::1"),
        # Every address must pass: one public answer beside an inside one is no cover.
        ([PUBLIC_V4, "192.168.0.10"], "192.168.0.10"),
        ([PUBLIC_V6, "fd00::5"], "fd00::5"),
    ],
)
async def test_prod_refuses_a_name_that_resolves_inside(addresses: list[str], inside: str) -> None:
    dns = FakeDns(rebind_example=addresses)
    policy = prod(dns)
    policy.check_url("https://rebind.example/hooks")  # the shape is fine ...
    with pytest.raises(UrlRefused) as refused:
        await policy.resolve_target("https://rebind.example/hooks")  # ... the address is not
    assert refused.value.reason == (
        f"rebind.example resolves to {inside}, which is not a public address."
    )
    assert dns.asked == [("rebind.example", 443)]


async def test_a_name_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(UrlRefused, match="does not resolve"):
        await prod().resolve_target("https://nowhere.example/hooks")
    with pytest.raises(UrlRefused, match="does not resolve"):
        await prod(FakeDns(empty_example=[])).resolve_target("https://empty.example/hooks")


async def test_numeric_host_spellings_of_loopback_are_caught_when_resolved() -> None:
    """``2130706433`` and ``0x7f.1`` are not IP literals to Python, but the C resolver reads
    them as 127.0.0.1: the resolved address is what is judged."""
    policy = OutboundPolicy(allow_loopback=False, resolver=system_resolver)
    for url in ("https://2130706433/hooks", "https://0x7f.1/hooks"):
        with pytest.raises(UrlRefused, match=re.escape("127.0.0.1")):
            await policy.resolve_target(url)


async def test_the_call_goes_to_the_checked_address_with_the_name_kept() -> None:
    """The request connects to the very address that was checked (no second lookup to
    rebind), and keeps the host name for the Host header and TLS."""
    dns = FakeDns(hooks_example_com=[PUBLIC_V4])
    target = await prod(dns).resolve_target("https://hooks.example.com:8443/a/b?x=1")
    assert target.url == f"https://{PUBLIC_V4}:8443/a/b?x=1"
    assert target.host == "hooks.example.com:8443"
    assert target.sni_hostname == "hooks.example.com"
    v6 = await prod(FakeDns(v6_example=[PUBLIC_V6])).resolve_target("https://v6.example/h")
    assert v6.url == f"https://[{PUBLIC_V6}]/h"
    assert v6.sni_hostname == "v6.example"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hooks",
        "http://localhost:8080/hooks",
        "http://[::1]:8080/hooks",
        "https://127.0.0.1/hooks",
        "https://hooks.example.com/agora",
    ],
)
async def test_dev_allows_loopback_and_public(url: str) -> None:
    dns = FakeDns(localhost=["127.0.0.1", "::1"], hooks_example_com=[PUBLIC_V4])
    dev(dns).check_url(url)
    await dev(dns).resolve_target(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.5/hooks",
        "https://10.0.0.5/hooks",
        "https://192.168.1.1/hooks",
        "https://169.254.169.254/latest/meta-data",
        "https://[fe80::1]/hooks",
        "http://hooks.example.com/agora",  # http only to loopback
        "http://rebind.example/hooks",
    ],
)
async def test_dev_still_refuses_other_private_addresses(url: str) -> None:
    with pytest.raises(UrlRefused):
        dev(FakeDns(rebind_example=["127.0.0.1"])).check_url(url)


async def test_dev_refuses_a_name_that_resolves_to_a_private_address() -> None:
    policy = dev(FakeDns(inside_example=["10.0.0.7"], local_example=["127.0.0.1"]))
    with pytest.raises(UrlRefused, match=re.escape("10.0.0.7")):
        await policy.resolve_target("https://inside.example/hooks")
    await policy.resolve_target("https://local.example/hooks")  # loopback is dev's exception


def test_the_environment_chooses_the_policy() -> None:
    assert not OutboundPolicy.for_environment("prod").allow_loopback
    assert OutboundPolicy.for_environment("dev").allow_loopback
    assert OutboundPolicy.for_environment("test").allow_loopback


@pytest.mark.parametrize("name", ["literal", "rebinding"])
async def test_in_prod_a_delivery_to_an_inside_address_is_dead_at_once(
    world: World, receiver: Receiver, dispatchers: Dispatchers, name: str
) -> None:
    """Refused at call time, permanently: no retry, the reason on the delivery and its
    attempt, and the receiver never called. ``rebinding``: the name resolved to a public
    address when the subscription was made, and to 127.0.0.1 when the delivery goes."""
    if name == "literal":
        url, reason = receiver.endpoint(), "Use https."
        subscriber = await subscribe(world, url)
        outbound = prod()
    else:
        url = "https://hooks.partner.example/agora"
        reason = "hooks.partner.example resolves to 127.0.0.1, which is not a public address."
        then = prod(FakeDns(hooks_partner_example=[PUBLIC_V4]))
        subscriber = await subscribe(world, url, outbound=then)
        outbound = prod(FakeDns(hooks_partner_example=["127.0.0.1"]))
    await record(world, {"order_id": 1})
    report = await dispatchers(outbound=outbound).run_once()
    assert (report.attempted, report.failed) == (1, 1)
    [delivery] = await deliveries_of(world, subscriber)
    assert delivery.status is DeliveryStatus.DEAD
    assert delivery.attempt_count == 1
    assert delivery.last_error == f"refused_url: {reason}"
    [attempt] = await attempts_of(world, delivery.id)
    assert attempt.status_code is None
    assert attempt.error == f"refused_url: {reason}"
    assert receiver.requests == []
    assert (await dispatchers(outbound=outbound).run_once()).idle

"""Webhook contact points may not target internal addresses (SSRF, notifications.channels.urlguard): refused when
the subject sets one in the portal and again at each send (the name may resolve elsewhere by then), unless the
settings' allow-list (webhook_allow_hosts) names them. The DNS edge is replaced where a test needs a name to resolve
somewhere chosen; nothing here connects to a public address (the sender edge, post_signed, records instead)."""

from __future__ import annotations

import pytest

from app.jobs import drain
from notifications.channels import urlguard, webhook
from notifications.service import deliveries, notify
from tests.notifications.conftest import CTX, make_recipient
from tests.web import acsrf, alogin, asgi_client, ensure_user

A = "91360100MA35CCCCC3"
PUBLIC = "93.184.216.34"  # a global unicast address; never connected to here


@pytest.fixture
def dns(monkeypatch):
    """Names resolving to chosen addresses (the DNS edge); any other name does not resolve."""
    table: dict[str, list[str]] = {}

    async def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError(f"no such name {host}")
        return table[host]

    monkeypatch.setattr(urlguard, "resolve", resolve)
    return table


@pytest.fixture
def posted(monkeypatch):
    """The HTTP edge of the webhook sender: what would have been POSTed, without connecting."""
    calls: list[tuple[str, dict]] = []

    async def fake_post(url, payload, secret, timeout, what):
        calls.append((url, payload))
        return 200

    monkeypatch.setattr(webhook, "post_signed", fake_post)
    return calls


REFUSED = [
    "http://127.0.0.1/hook",
    "http://127.8.9.10:8080/hook",
    "http://10.1.2.3/hook",
    "http://172.16.0.5/hook",
    "http://192.168.1.1/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://100.64.0.1/hook",
    "http://0.0.0.0/hook",
    "http://224.0.0.1/hook",
    "http://240.0.0.1/hook",
    "http://[::1]/hook",
    "http://[::]/hook",
    "http://[fe80::1]/hook",
    "http://[fd00::1]/hook",
    "http://[ff02::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://[::ffff:a9fe:a9fe]/hook",  # 169.254.169.254, IPv4-mapped
    "http://[64:ff9b::a00:1]/hook",  # 10.0.0.1 through NAT64
    "http://localhost/hook",
    "http://LOCALHOST./hook",
    "http://internal.example/hook",  # resolves to 127.0.0.1 (dns fixture)
    "http://mixed.example/hook",  # one public and one private address
]


@pytest.mark.parametrize("url", REFUSED)
async def test_internal_addresses_are_refused(dns, url):
    dns.update({"internal.example": ["127.0.0.1"], "mixed.example": [PUBLIC, "10.0.0.7"]})
    dns.update({"localhost": ["127.0.0.1", "::1"], "localhost.": ["127.0.0.1"]})
    with pytest.raises(urlguard.UrlRefused, match="internal, loopback, private or reserved") as e:
        await urlguard.check_url(url)
    assert not e.value.temporary


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/hook", "http:// or https://"),
        ("file:///etc/passwd", "http:// or https://"),
        ("gopher://example.com/", "http:// or https://"),
        ("http://user:pw@example.com/hook", "user name or password"),
        ("http://example.com@127.0.0.1/hook", "user name or password"),
        ("http:///hook", "host name"),
        ("http://[::1/hook", "cannot be read"),
    ],
)
async def test_other_schemes_userinfo_and_broken_urls_are_refused(dns, url, reason):
    with pytest.raises(urlguard.UrlRefused, match=reason):
        await urlguard.check_url(url)


async def test_public_addresses_pass_and_the_allow_list_lets_named_internal_ones_through(dns):
    dns.update({"hooks.example.cn": [PUBLIC, "2606:2800:220:1:248:1893:25c8:1946"], "sim.local": ["10.8.1.2"]})
    await urlguard.check_url(f"https://{PUBLIC}/hook")
    await urlguard.check_url("https://hooks.example.cn:8443/zhida?x=1")
    await urlguard.check_url("http://[2606:2800:220:1:248:1893:25c8:1946]/hook")
    await urlguard.check_url("http://127.0.0.1:9/hook", allow=("127.0.0.1",))
    await urlguard.check_url("http://sim.local/hook", allow=("10.8.0.0/16",))
    await urlguard.check_url("http://localhost:8000/hook", allow=("localhost",))
    with pytest.raises(urlguard.UrlRefused):  # allowed: 127.0.0.1 only, not the rest of the loopback network
        await urlguard.check_url("http://127.0.0.2/hook", allow=("127.0.0.1",))
    with pytest.raises(urlguard.UrlRefused) as e:  # a name that does not resolve: refused, but may resolve later
        await urlguard.check_url("http://nowhere.example/hook")
    assert e.value.temporary


async def test_the_portal_refuses_an_internal_webhook_in_both_languages(fresh_db, dns, posted):
    dns["metadata.example"] = ["169.254.169.254"]
    await ensure_user(A, "enterprise")
    async with asgi_client() as c:
        await alogin(c, A)
        for url in ("http://127.0.0.1:6379/", "http://metadata.example/latest", "http://[::1]/x", "http://localhost/"):
            dns.setdefault("localhost", ["127.0.0.1"])
            r = await c.post("/api/portal/contacts/webhook/code", json={"address": url}, headers=acsrf(c))
            assert r.status_code == 422, (url, r.text)
            assert "internal, loopback, private or reserved address" in r.text
        zh = await c.post(
            "/api/portal/contacts/webhook/code",
            json={"address": "http://10.0.0.8/hook"},
            headers={**acsrf(c), "Accept-Language": "zh-CN"},
        )
        assert zh.status_code == 422 and "回调地址不能指向内网" in zh.text and "10.0.0.8" in zh.text
        c.headers["accept"] = "text/html"
        form = {"address": "http://192.168.0.1/hook", "_csrf_token": c.cookies.get("csrftoken")}
        page = await c.post("/portal/contacts/webhook/code", data=form, follow_redirects=True)
        assert page.status_code == 200 and "回调地址不能指向内网" in page.text
        assert posted == []  # nothing was sent anywhere
        del c.headers["accept"]
        ok = await c.post(
            "/api/portal/contacts/webhook/code", json={"address": f"https://{PUBLIC}/hook"}, headers=acsrf(c)
        )
        assert ok.status_code == 202, ok.text
        assert [u for u, _ in posted] == [f"https://{PUBLIC}/hook"] and posted[0][1]["kind"] == "contact_code"


async def test_a_send_is_refused_when_the_name_now_resolves_inside(queue, actor, channel_settings, dns, posted):
    channel_settings(webhook_allow_hosts="")  # production: no allow-list
    dns["hooks.example.cn"] = [PUBLIC]
    await make_recipient(actor, A, email=None, phone=None, webhook_url="https://hooks.example.cn/zhida")
    first = await notify("enterprise", A, "matched_auto", "ssrf-1", CTX, actor=actor, queue=queue)
    await drain()
    assert by_channel(await deliveries(first.id))["webhook"].status == "sent"
    assert [u for u, _ in posted] == ["https://hooks.example.cn/zhida"]
    dns["hooks.example.cn"] = ["127.0.0.1"]  # DNS rebinding: the same name, an internal address now
    second = await notify("enterprise", A, "matched_auto", "ssrf-2", CTX, actor=actor, queue=queue)
    await drain()
    hook = by_channel(await deliveries(second.id))["webhook"]
    assert hook.status == "failed" and hook.attempts == 1  # for good, not retried
    assert "internal, loopback, private or reserved address (127.0.0.1)" in hook.reason
    assert len(posted) == 1


def by_channel(ds):
    return {d.channel: d for d in ds}

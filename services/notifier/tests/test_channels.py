"""Webhook target guard, signatures, payload formats, masking (issue 14: no request forgery into the
cluster; a mobile number is personal data)."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import uuid

import pytest

from lkg.notifier import channels
from lkg.notifier.settings import NotifierSettings


def settings(**values) -> NotifierSettings:
    return NotifierSettings(env="test", **values)


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "127.0.0.1",
        "169.254.169.254",  # cloud metadata (link-local)
        "100.100.100.200",  # another cloud's metadata (shared address space)
        "0.0.0.0",
        "::1",
        "fd00:ec2::254",
        "fe80::1",
        "224.0.0.1",
    ],
)
def test_non_global_addresses_are_refused_unless_allowed(address: str) -> None:
    ip = ipaddress.ip_address(address)
    assert channels._address_allowed(ip, ()) is False
    assert channels._address_allowed(ip, (f"{address}/128" if ip.version == 6 else f"{address}/32",)) is True


def test_a_global_address_is_allowed() -> None:
    assert channels._address_allowed(ipaddress.ip_address("203.119.206.1"), ()) is True


async def test_the_allow_list_comes_first_and_literals_are_checked() -> None:
    s = settings(webhook_allowed_hosts=("*.dingtalk.com", "10.9.9.9"))
    with pytest.raises(channels.TargetRefused) as refused:
        await channels.resolve_target("https://evil.example.com/hook", s)
    assert refused.value.code == "webhook_host_not_allowed"
    with pytest.raises(channels.TargetRefused) as private:
        await channels.resolve_target("http://10.9.9.9/hook", s)
    assert private.value.code == "webhook_address_refused"
    with pytest.raises(channels.TargetRefused) as userinfo:
        await channels.resolve_target("https://user:pw@oapi.dingtalk.com/robot/send", s)
    assert userinfo.value.code == "webhook_url_invalid"
    allowed = settings(webhook_allowed_hosts=("10.9.9.9",), webhook_allowed_networks=("10.9.0.0/16",))
    parts, address = await channels.resolve_target("http://10.9.9.9:8080/hook", allowed)
    assert (parts.port, address) == (8080, "10.9.9.9")


def test_signature_is_hmac_sha256_of_timestamp_and_body() -> None:
    body = b'{"a": 1}'
    expected = hmac.new(b"s3cret", b"1588294800." + body, hashlib.sha256).hexdigest()
    assert channels.signature("s3cret", "1588294800", body) == f"sha256={expected}"


def test_robot_formats() -> None:
    out = channels.Outgoing(
        delivery_id=uuid.UUID(int=7),
        title="【超时】问题：用地",
        body="正文",
        link=None,
        kind="problem.breached",
        recipient_name="李丽",
        mobile="13800000000",
    )
    assert channels.webhook_payload("wecom", out) == {
        "msgtype": "text",
        "text": {"content": "【超时】问题：用地\n正文", "mentioned_mobile_list": ["13800000000"]},
    }
    assert channels.webhook_payload("dingtalk", out)["at"] == {"atMobiles": ["13800000000"], "isAtAll": False}


def test_a_stable_message_id_and_delivery_header() -> None:
    out = channels.Outgoing(
        delivery_id=uuid.UUID(int=9),
        title="标题",
        body="正文",
        link=None,
        kind="k",
        recipient_name="张三",
        email="a@b.cn",
    )
    mail = channels.build_email(settings(), out)
    assert mail["Message-ID"] == f"<{uuid.UUID(int=9)}@lkg.invalid>"
    assert mail["X-LKG-Delivery-Id"] == str(uuid.UUID(int=9))


@pytest.mark.parametrize(
    ("mobile", "masked"), [("13800000000", "138****0000"), ("123", "***"), (None, None), ("", "")]
)
def test_mobile_numbers_are_masked(mobile, masked) -> None:
    assert channels.mask_mobile(mobile) == masked

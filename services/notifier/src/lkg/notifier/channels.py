"""Push channels: email over SMTP, and webhooks for SMS gateways and IM group robots (企业微信 / 钉钉).

Both are at-least-once: a crash between the receiver's acceptance and our commit sends again. Every
attempt of one delivery carries the same delivery id (the mail's ``Message-ID`` and an
``X-LKG-Delivery-Id`` header), so a receiver drops duplicates.

Webhook targets are guarded against request forgery: the host must be on the allow-list
(``LKG_WEBHOOK_ALLOWED_HOSTS``), and every address it resolves to must be a global one, unless its network
is allowed explicitly (``LKG_WEBHOOK_ALLOWED_NETWORKS``): private, loopback, link-local (cloud metadata at
169.254.169.254), shared (100.64/10, another cloud's metadata) and reserved ranges are refused. The check
runs when an endpoint is saved and again before every attempt, and the request goes to the address that
was checked (the host name travels in ``Host`` and TLS SNI), so a DNS answer that changes in between
cannot redirect it. Redirects are not followed.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import json
import socket
import urllib.parse
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any
from uuid import UUID

import aiosmtplib
import httpx

from lkg.common.clock import wall_clock_utc
from lkg.notifier.settings import NotifierSettings

WEBHOOK_FORMATS = ("wecom", "dingtalk", "sms")


class DeliveryError(Exception):
    """One attempt failed (retried with backoff until the last, then dead-lettered)."""


class TargetRefused(Exception):
    """A webhook target outside the allow-list, or resolving to a non-global address not allowed."""

    def __init__(self, detail: str, code: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code


def mask_mobile(mobile: str | None) -> str | None:
    """``13800000000`` → ``138****0000``: a mobile number is personal data; logs and operator views see
    this form only."""
    if not mobile:
        return mobile
    digits = mobile.strip()
    if len(digits) < 7:
        return "*" * len(digits)
    return f"{digits[:3]}{'*' * (len(digits) - 7)}{digits[-4:]}"


@dataclass(frozen=True)
class Outgoing:
    """One attempt's content."""

    delivery_id: UUID
    title: str
    body: str
    link: str | None
    kind: str
    recipient_name: str
    email: str | None = None
    mobile: str | None = None


# ---- email ----------------------------------------------------------------------------------------


def message_id(delivery_id: UUID, domain: str) -> str:
    return f"<{delivery_id}@{domain}>"


def build_email(settings: NotifierSettings, out: Outgoing) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = settings.smtp_sender
    mail["To"] = out.email or ""
    mail["Subject"] = out.title
    mail["Message-ID"] = message_id(out.delivery_id, settings.message_id_domain)
    mail["X-LKG-Delivery-Id"] = str(out.delivery_id)
    mail["Date"] = format_datetime(wall_clock_utc())
    mail.set_content(f"{out.recipient_name}：\n\n{out.body}\n", charset="utf-8")
    return mail


async def send_email(settings: NotifierSettings, out: Outgoing) -> None:
    if not settings.smtp_host:
        raise DeliveryError("未配置 SMTP 服务器 (LKG_SMTP_HOST)")
    try:
        await aiosmtplib.send(
            build_email(settings, out),
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            start_tls=settings.smtp_starttls,
            timeout=settings.webhook_timeout_seconds,
        )
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        raise DeliveryError(f"SMTP: {type(exc).__name__}: {exc}") from exc


# ---- webhooks -------------------------------------------------------------------------------------


def _host_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    host = host.lower().rstrip(".")
    for pattern in allowed:
        pattern = pattern.lower().rstrip(".")
        if pattern.startswith("*.") and host.endswith(pattern[1:]):
            return True
        if host == pattern:
            return True
    return False


def _address_allowed(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, networks: tuple[str, ...]) -> bool:
    if any(ip in ipaddress.ip_network(n, strict=False) for n in networks):
        return True
    # is_global is False for private, loopback, link-local (169.254.169.254: cloud metadata), shared
    # address space (100.64/10: 100.100.100.200 is another cloud's metadata), reserved and unspecified.
    return ip.is_global and not ip.is_multicast


def check_url_shape(url: str, settings: NotifierSettings) -> urllib.parse.SplitResult:
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - a port out of range or not a number raises here, not at delivery
    except ValueError as exc:  # an unbalanced "[" (IPv6 literal) or a bad port
        raise TargetRefused("回调地址格式不正确", "webhook_url_invalid") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused("回调地址须为 http(s) 网址", "webhook_url_invalid")
    if parts.username or parts.password:
        raise TargetRefused("回调地址不得包含用户名或密码", "webhook_url_invalid")
    if not _host_allowed(parts.hostname, settings.webhook_allowed_hosts):
        raise TargetRefused(f"回调主机 {parts.hostname} 不在允许清单中", "webhook_host_not_allowed")
    return parts


async def resolve_target(url: str, settings: NotifierSettings) -> tuple[urllib.parse.SplitResult, str]:
    """The URL's parts and the one address to connect to, once every address it resolves to is allowed."""
    parts = check_url_shape(url, settings)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        literal = ipaddress.ip_address(host)
        addresses = [literal]
    except ValueError:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise TargetRefused(f"无法解析回调主机 {host}", "webhook_host_unresolvable") from exc
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    for ip in addresses:
        if not _address_allowed(ip, settings.webhook_allowed_networks):
            raise TargetRefused(
                f"回调地址 {host} 解析为内网、回环、链路本地或元数据地址 ({ip})，未获明确允许",
                "webhook_address_refused",
            )
    return parts, str(addresses[0])


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``X-LKG-Signature``: ``sha256=`` + HMAC-SHA256 of ``<timestamp>.<body>`` with the endpoint's
    secret (the timestamp is ``X-LKG-Timestamp``, so a receiver can refuse a replay)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def webhook_payload(fmt: str, out: Outgoing) -> dict[str, Any]:
    text = f"{out.title}\n{out.body}"
    if fmt == "wecom":  # 企业微信群机器人: text message, @ the recipient by mobile
        return {
            "msgtype": "text",
            "text": {"content": text, "mentioned_mobile_list": [out.mobile] if out.mobile else []},
        }
    if fmt == "dingtalk":  # 钉钉群机器人
        return {
            "msgtype": "text",
            "text": {"content": text},
            "at": {"atMobiles": [out.mobile] if out.mobile else [], "isAtAll": False},
        }
    return {"mobile": out.mobile, "content": f"【临空港】{out.title}", "delivery_id": str(out.delivery_id)}


def _dingtalk_signed(url: str, secret: str) -> str:
    """钉钉 robots' own signature: ``timestamp`` (ms) and ``sign`` = base64(HMAC-SHA256(secret,
    "timestamp\\nsecret")) as query parameters."""
    # The robot's server checks it against its own clock (within an hour): wall-clock time, read through
    # lkg.common.clock like every other wall-clock read, never the simulated clock.
    stamp = str(int(wall_clock_utc().timestamp() * 1000))
    mac = hmac.new(secret.encode(), f"{stamp}\n{secret}".encode(), hashlib.sha256).digest()
    query = urllib.parse.urlencode({"timestamp": stamp, "sign": base64.b64encode(mac).decode()})
    return f"{url}{'&' if '?' in url else '?'}{query}"


async def send_webhook(
    settings: NotifierSettings, client: httpx.AsyncClient, endpoint: Any, out: Outgoing
) -> None:
    if endpoint.format == "sms" and not out.mobile:
        raise DeliveryError("收件人未登记手机号")
    try:
        parts, address = await resolve_target(endpoint.url, settings)
    except TargetRefused as exc:
        raise DeliveryError(exc.detail) from exc
    body = json.dumps(webhook_payload(endpoint.format, out), ensure_ascii=False).encode()
    stamp = str(int(wall_clock_utc().timestamp()))
    url = _dingtalk_signed(endpoint.url, endpoint.secret) if endpoint.format == "dingtalk" else endpoint.url
    split = urllib.parse.urlsplit(url)
    host_port = f"[{address}]" if ":" in address else address
    if split.port:
        host_port += f":{split.port}"
    pinned = urllib.parse.urlunsplit((split.scheme, host_port, split.path, split.query, ""))
    headers = {
        "Host": split.netloc,
        "Content-Type": "application/json; charset=utf-8",
        "X-LKG-Delivery-Id": str(out.delivery_id),
        "X-LKG-Timestamp": stamp,
        "X-LKG-Signature": signature(endpoint.secret, stamp, body),
    }
    extensions = {"sni_hostname": parts.hostname} if parts.scheme == "https" else {}
    try:
        response = await client.post(pinned, content=body, headers=headers, extensions=extensions)
    except httpx.HTTPError as exc:
        raise DeliveryError(f"webhook: {type(exc).__name__}: {exc}") from exc
    if response.status_code >= 300:
        raise DeliveryError(f"webhook: HTTP {response.status_code}")
    # 企业微信 / 钉钉 answer 200 with an error code in the body when they refuse a message.
    if endpoint.format in ("wecom", "dingtalk"):
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        if isinstance(answer, dict) and answer.get("errcode", 0) != 0:
            raise DeliveryError(f"webhook: errcode {answer.get('errcode')}: {answer.get('errmsg', '')}")

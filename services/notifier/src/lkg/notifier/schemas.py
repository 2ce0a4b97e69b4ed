"""API models of the notifier service (zh-CN / English descriptions)."""

from __future__ import annotations

import re
from datetime import time
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    field_validator,
    model_validator,
)

from lkg.common.http.types import Instant, LongText, OptionalText, Text
from lkg.notifier.kinds import known_kinds
from lkg.notifier.routing import Audience

Channel = Literal["email", "sms", "wecom", "dingtalk"]
WebhookFormat = Literal["wecom", "dingtalk", "sms"]
#: Spelled with explicit ranges (controls, space, DEL and the C1 controls) rather than ``\s``, which the
#: server's regex engine and a JSON Schema (ECMAScript) validator draw differently: U+0085 is whitespace
#: to one and not to the other, so a client's validator passed an address the server refused.
_ADDRESS_CHAR = r"[^@\x00-\x20\x7f-\x9f]"
Email = Annotated[
    str,
    StringConstraints(pattern=rf"^{_ADDRESS_CHAR}+@{_ADDRESS_CHAR}+\.{_ADDRESS_CHAR}+$", max_length=254),
]
Mobile = Annotated[str, StringConstraints(pattern=r"^1[0-9]{10}$")]
#: An http(s) URL without controls or spaces (explicit ranges, for the reason given at ``_ADDRESS_CHAR``).
_URL_PATTERN = r"^https?://[^\x00-\x20\x7f-\x9f/?#]+[^\x00-\x20\x7f-\x9f]*$"
#: The kinds the notifier knows, spelled out in the schema, so a client (and the fuzzer) sees which ones a
#: rule, an endpoint or a preference may name; an unknown one is refused as a 422 by validation.
KIND_PATTERN = "^(" + "|".join(re.escape(k) for k in sorted(known_kinds())) + ")$"
Kind = Annotated[str, StringConstraints(pattern=KIND_PATTERN, max_length=64)]
#: A kind, or ``*`` for every kind a person has no preference of its own for.
KindOrAll = Annotated[str, StringConstraints(pattern=KIND_PATTERN.replace("^(", "^(\\*|", 1), max_length=64)]
#: A local time of day (Asia/Shanghai), ``HH:MM`` or ``HH:MM:SS``: JSON Schema's ``format: time`` asks for
#: an offset, which a quiet hour does not have.
LocalTime = Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$")]


def _local_time(value: Any) -> Any:
    return value.isoformat(timespec="seconds") if isinstance(value, time) else value


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class MessageOut(_Out):
    """站内消息 / an inbox message."""

    id: UUID
    seq: int = Field(description="顺序号，亦为推送流的事件 id / order, and the stream's event id")
    kind: str = Field(description="通知类型（事件类型）/ kind (the event's type)")
    title: str
    body: str
    link: str | None = Field(description="控制台链接 / console link")
    matter_id: UUID | None
    layer: int | None = Field(description="事项所处层级 / the matter's layer")
    urgent: bool = Field(description="紧急（超时、上报、红牌）/ urgent (breach, escalation, red card)")
    created_at: Instant
    read_at: Instant | None


class MessagePage(BaseModel):
    items: list[MessageOut]
    next_cursor: str | None = Field(default=None, description="下一页游标 / cursor of the next page")


class UnreadOut(BaseModel):
    unread: int = Field(description="未读消息数 / unread messages")


class ReadAllOut(BaseModel):
    marked: int = Field(description="本次标为已读的消息数 / messages marked read")


class LogEntryOut(_Out):
    """投递记录 / one step of a message's delivery log."""

    channel: str = Field(description="inbox | email | webhook")
    step: str = Field(description="stored | queued | held | sent | failed | dead | resent | read")
    delivery_id: UUID | None
    attempt: int | None
    detail: str | None
    at: Instant


class LogOut(BaseModel):
    items: list[LogEntryOut]


class TicketOut(BaseModel):
    ticket: str = Field(description="一次性推送凭据 / single-use stream ticket")
    expires_at: Instant


class QuietHours(BaseModel):
    """静默时段（本地时间）/ quiet hours, local time: non-urgent pushes wait until ``end`` on the next working
    morning. Both ends or none, so the pair is one object."""

    model_config = ConfigDict(extra="forbid")

    start: LocalTime = Field(description="开始 HH:MM[:SS] / start")
    end: LocalTime = Field(
        description="结束，即次一工作日早晨推送时间 HH:MM[:SS] / end: the morning push time"
    )

    _times = field_validator("start", "end", mode="before")(_local_time)


class PreferenceIn(_In):
    kind: KindOrAll = Field(description="通知类型或 * / a kind, or * for every other kind")
    channels: list[Channel] = Field(max_length=4, description="推送渠道（站内信总会收到）/ push channels")
    digest: StrictBool = Field(
        default=False, description="非紧急消息改为每日汇总 / digest instead of immediate"
    )


class SettingsIn(_In):
    """个人通知设置 / a person's addresses, quiet hours and preferences."""

    email: Email | None = Field(default=None, description="邮箱 / email address")
    mobile: Mobile | None = Field(default=None, description="手机号（个人信息，日志中脱敏）/ mobile")
    quiet_hours: QuietHours | None = Field(
        default=None, description="静默时段，不给即不设 / quiet hours; none: no quiet hours"
    )
    preferences: list[PreferenceIn] = Field(
        default_factory=list,
        max_length=64,
        description=(
            "按通知类型的偏好，同一类型重复时以最后一项为准 / per kind; a kind twice: the last counts"
        ),
    )

    @field_validator("preferences")
    @classmethod
    def _last_per_kind(cls, value: list[PreferenceIn]) -> list[PreferenceIn]:
        return list({p.kind: p for p in value}.values())


class PreferenceOut(BaseModel):
    kind: str
    channels: list[str]
    digest: bool


class SettingsOut(BaseModel):
    person_id: UUID
    email: str | None
    mobile: str | None = Field(description="本人可见原号码；管理员视图脱敏 / masked in operator views")
    quiet_hours: QuietHours | None
    revision: int
    preferences: list[PreferenceOut]

    @model_validator(mode="before")
    @classmethod
    def _quiet_hours(cls, value: Any) -> Any:
        if isinstance(value, dict) and "quiet_hours" not in value:
            start, end = value.get("quiet_from"), value.get("quiet_until")
            value = {
                **value,
                "quiet_hours": None if start is None or end is None else {"start": start, "end": end},
            }
        return value


class RuleIn(_In):
    kind: Kind = Field(description="通知类型（事件类型），如 problem.escalated / kind")
    audience: Audience = Field(description="受众 / audience")
    layer: Literal[1, 2, 3] | None = Field(default=None, description="仅对该层级的事项 / only at this layer")
    note: OptionalText = Field(default="", description="说明 / a note (one line; control characters refused)")


class RulePatch(_In):
    enabled: StrictBool
    note: OptionalText | None = None


class RuleOut(_Out):
    id: UUID
    kind: str
    audience: str
    layer: int | None
    enabled: bool
    note: str
    revision: int
    updated_at: Instant


class RuleList(BaseModel):
    items: list[RuleOut]


class TemplateIn(_In):
    title: Text = Field(description="标题模板（$matter 等占位符）/ title template")
    body: LongText = Field(description="正文模板 / body template")
    urgent: StrictBool = Field(description="紧急：不受静默时段和汇总影响 / urgent: never held")


class TemplateOut(_Out):
    kind: str
    title: str
    body: str
    urgent: bool
    revision: int
    updated_at: Instant


class TemplateList(BaseModel):
    items: list[TemplateOut]


#: A webhook's HMAC secret: printable ASCII without spaces (the robots' and gateways' secrets are).
Secret = Annotated[str, StringConstraints(min_length=16, max_length=200, pattern=r"^[\x21-\x7e]+$")]


class EndpointIn(_In):
    name: Text = Field(description="名称 / name")
    format: WebhookFormat = Field(description="企业微信 wecom、钉钉 dingtalk 群机器人，或短信网关 sms")
    url: Annotated[str, StringConstraints(pattern=_URL_PATTERN, max_length=2000)] = Field(
        description="回调地址 http(s)://…（须在允许清单中）/ the target URL (must be on the allow-list)"
    )
    secret: Secret = Field(
        description="HMAC 签名密钥（只写），可打印 ASCII 字符 / HMAC secret (write-only), printable ASCII"
    )
    kinds: list[Kind] = Field(default_factory=list, description="承载的通知类型，空为全部 / kinds carried")


class EndpointOut(_Out):
    id: UUID
    name: str
    format: str
    url: str
    kinds: list[str]
    enabled: bool
    revision: int
    created_at: Instant


class EndpointList(BaseModel):
    items: list[EndpointOut]


class DeliveryOut(_Out):
    """一次推送（死信）/ a delivery (a dead letter)."""

    id: UUID = Field(description="投递 id（X-LKG-Delivery-Id），重试不变 / stable delivery id")
    message_id: UUID
    person_id: UUID
    channel: str
    target: str = Field(description="邮箱或回调端点 id / address or endpoint id")
    state: str
    attempts: int
    next_attempt_at: Instant | None
    last_error: str | None
    created_at: Instant
    sent_at: Instant | None


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    next_cursor: str | None = None


class UndeliverableOut(_Out):
    """无人可收的通知 / a notice an audience had nobody for."""

    id: int
    kind: str
    cause_key: str
    audience: str
    reason: str
    at: Instant


class UndeliverablePage(BaseModel):
    items: list[UndeliverableOut]
    next_cursor: str | None = None

"""The notifier service (消息通知): composition root."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from lkg.common.orgcopy import OrgReachResolver
from lkg.common.runtime.service import Scan, ServiceRuntime, ServiceSpec
from lkg.notifier import api
from lkg.notifier.cadence import scan_cadence
from lkg.notifier.demo import seed_demo_addresses
from lkg.notifier.handlers import SUBSCRIPTIONS
from lkg.notifier.models import metadata, org_copy
from lkg.notifier.scans import scan_deliveries, scan_notices
from lkg.notifier.settings import NotifierSettings


def _reach(runtime: ServiceRuntime[Any]) -> OrgReachResolver:
    return OrgReachResolver(runtime, org_copy)


SPEC = ServiceSpec[NotifierSettings](
    name="notifier",
    title="消息通知 Notifier — 临空港重大产业项目落地建设在线",
    description=(
        "把预警、超时、上报、红牌等告诉该知道的人：按路由规则在事件发生时从组织目录中确定收件人，"
        "站内信（每人每类每事一条）、实时推送、邮件与回调（企业微信、钉钉群机器人、短信网关），"
        "静默时段、投递记录与死信。\n\n"
        "Tells the right people about warnings, breaches, escalations and red cards: recipients resolved "
        "from the org directory at the event's time by routing rules that are data; an in-app inbox (one "
        "message per person, kind and cause), a live stream, email and webhooks (企业微信 / 钉钉 robots, "
        "SMS gateways), quiet hours, a delivery log and dead letters."
    ),
    version="0.1.0",
    settings_cls=NotifierSettings,
    metadata=metadata,
    migrations="lkg.notifier:migrations",
    router=api.router,
    subscriptions=SUBSCRIPTIONS,
    # Route what was heard first, then the digests and reminders, then send what is due (a message made
    # now goes out in the same round).
    scans=[
        Scan[NotifierSettings]("notices", scan_notices),
        Scan[NotifierSettings]("cadence", scan_cadence, summarises=True),
        Scan[NotifierSettings]("deliveries", scan_deliveries),
    ],
    read_copy_tables=("project_copy", *org_copy.names, "matter_copy"),
    reach_resolver=_reach,
    seed=seed_demo_addresses,
)


def create_app(settings: NotifierSettings | None = None) -> FastAPI:
    """The notifier service alone (one service per process)."""
    from lkg.common.runtime.app import build_app, settings_for

    settings = settings or NotifierSettings()
    spec: ServiceSpec[Any] = SPEC
    return build_app([spec], settings, {spec.name: settings_for(spec, settings)})

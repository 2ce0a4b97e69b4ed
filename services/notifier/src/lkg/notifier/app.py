"""The notifier service (消息通知): composition root."""

from __future__ import annotations

from lkg.common.runtime.service import ServiceSpec
from lkg.notifier import api
from lkg.notifier.handlers import SUBSCRIPTIONS
from lkg.notifier.models import metadata
from lkg.notifier.settings import NotifierSettings

SPEC = ServiceSpec(
    name="notifier",
    title="消息通知 Notifier — 临空港重大产业项目落地建设在线",
    description=(
        "站内信箱、通知渠道、模板、偏好与投递记录。\n\n"
        "Inboxes, channels, templates, preferences and the delivery log."
    ),
    version="0.1.0",
    settings_cls=NotifierSettings,
    metadata=metadata,
    migrations="lkg.notifier:migrations",
    router=api.router,
    subscriptions=SUBSCRIPTIONS,
    read_copy_tables=("project_copy",),
)


def create_app(settings: NotifierSettings | None = None):
    """The notifier service alone (one service per process)."""
    from lkg.common.runtime.app import build_app, settings_for

    settings = settings or NotifierSettings()
    return build_app([SPEC], settings, {SPEC.name: settings_for(SPEC, settings)})

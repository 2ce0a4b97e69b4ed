"""Who may do what on the bus: one NATS user per service, with permissions limited to its own subjects and
the streams it reads (issue 11, item 8).

This table is the one place the bus's permissions are written. The embedded default renders it into the
``nats-server`` configuration it writes (:mod:`lkg.common.runtime.embedded`), and ``deploy/base/nats/
nats.conf`` carries the same rendering with passwords from the Secrets (``tests/test_deploy.py`` checks
that the file is what :func:`render_authorization` makes of this table; regenerate it with
``python -m lkg.common.events.permissions deploy/base/nats/nats.conf``). A service that reads a new
producer's events adds it to :data:`READS`; a new event of a producer needs nothing here, since each
producer publishes under its own ``lkg.<producer>.>`` only: nobody but scoring can publish
``lkg.scoring.red_card.requested``, and scoring cannot publish ``lkg.issues.…``.

What a service's user may do, and why (subjects carry the deployment prefix, streams and buckets its
upper-case form; see :class:`~lkg.common.events.bus.Names`):

* publish its own events (``lkg.<service>.>``), its dead letters (``lkg.dlq.<service>.>``) and its outbox
  wake-ups (``lkg.outbox.wake.<service>``, also subscribed), and the core subjects of :data:`CORE_SUBJECTS`
  (publish and subscribe);
* read the streams of :data:`READS` and its replayed dead letters (stream ``LKG_RETRY``, subject
  ``lkg.retry.<service>``) only through durable consumers named after itself: create, inspect, fetch,
  acknowledge (``$JS.API.CONSUMER.{CREATE,INFO,MSG.NEXT}.<stream>.<service>``,
  ``$JS.ACK.<stream>.<service>.>``); it cannot create or read a consumer under another service's name;
* create any of the platform's streams (every service ensures every stream at start, so start order does not
  matter) and inspect them, but update only its own stream and the shared dead-letter and retry streams;
  delete or purge none;
* the shared clock and calendar (key-value buckets ``LKG_CLOCK``, ``LKG_CALENDAR``): read and watch both,
  renew its own registration (``service.<service>``), answer settle requests (``lkg.clock.settle``), and, on
  simulated time, move the clock (``now``, which production never reads: it refuses simulated time);
  loading a calendar year is the operator's;
* replies to its requests come to its own inbox prefix (``_INBOX_<user>.>``, :func:`inbox_prefix`), so no
  service sees another's API answers or the messages fetched by another's consumers.

The ``platform`` user is what the one-process shape's shared connection uses (clock, calendar, streams, and
updating any stream's configuration after an upgrade, since it hosts every producer); each service's rights
include the rest of it, so a pod runs on its service's user alone. The ``operator`` user (the
``lkg`` CLI: clock moves, calendar loads, dead-letter replay, read-copy rebuilds) may do everything; no
service runs with it.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from lkg.common.events.base import PRODUCERS
from lkg.common.events.bus import Names

#: The producers whose streams each service reads (its subscriptions' producers), including readers the
#: design plans (architecture.md): scoring computes from every other service's facts, notifier tells people
#: of all of it, issues takes scoring's ``red_card.requested``. A service that subscribes to a producer not
#: listed here cannot create its consumer (``tests``: every spec's subscriptions are covered).
READS: dict[str, tuple[str, ...]] = {
    "registry": (),
    "approvals": ("registry",),
    "issues": ("registry", "approvals", "scoring"),
    "scoring": ("registry", "approvals", "issues"),
    "notifier": ("registry", "approvals", "issues", "scoring"),
}

#: Core NATS subjects (outside every stream) a service publishes and listens to among its own replicas:
#: the notifier's live inbox fan-out to the replica that holds a person's open stream.
CORE_SUBJECTS: dict[str, tuple[str, ...]] = {
    "notifier": ("lkg.live.inbox.>",),
}

PLATFORM = "platform"
OPERATOR = "operator"
#: Every bus user: the services, the one-process shared connection, the operator.
USERS = (*PRODUCERS, PLATFORM, OPERATOR)

_API = "$JS.API"


@dataclass(frozen=True)
class Permissions:
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]

    def as_config(self) -> dict[str, object]:
        # allow_responses: a service answers a settle request on the asker's inbox, once.
        return {
            "publish": {"allow": list(self.publish)},
            "subscribe": {"allow": list(self.subscribe)},
            "allow_responses": True,
        }


def inbox_prefix(user: str) -> str:
    """The user's own inbox prefix: replies (JetStream API answers, fetched messages) come only there."""
    return f"_INBOX_{user}"


def _kv(names: Names, bucket: str) -> tuple[str, str]:
    """(stream, subject prefix) of a key-value bucket."""
    name = names.bucket(bucket)
    return f"KV_{name}", f"$KV.{name}"


def _shared(names: Names, user: str) -> tuple[list[str], list[str]]:
    """What the platform user and every service user may do."""
    publish: list[str] = [f"{_API}.INFO"]
    subscribe: list[str] = [f"{inbox_prefix(user)}.>"]
    streams = [names.stream(p) for p in PRODUCERS] + [names.dlq_stream, names.retry_stream]
    for stream in streams:
        publish += [f"{_API}.STREAM.CREATE.{stream}", f"{_API}.STREAM.INFO.{stream}"]
    publish += [f"{_API}.STREAM.UPDATE.{names.dlq_stream}", f"{_API}.STREAM.UPDATE.{names.retry_stream}"]
    for bucket in ("clock", "calendar"):
        stream, _ = _kv(names, bucket)
        publish += [
            f"{_API}.STREAM.CREATE.{stream}",
            f"{_API}.STREAM.INFO.{stream}",
            f"{_API}.STREAM.MSG.GET.{stream}",
            f"{_API}.DIRECT.GET.{stream}",
            f"{_API}.DIRECT.GET.{stream}.>",
            # watchers: ordered, ephemeral push consumers, their flow control, and their removal
            f"{_API}.CONSUMER.CREATE.{stream}",
            f"{_API}.CONSUMER.CREATE.{stream}.>",
            f"{_API}.CONSUMER.INFO.{stream}.>",
            f"{_API}.CONSUMER.DELETE.{stream}.>",
            f"$JS.FC.{stream}.>",
        ]
    _, clock = _kv(names, "clock")
    publish += [f"{clock}.now", names.subject("lkg.clock.settle")]
    return publish, subscribe


def permissions(user: str, names: Names) -> Permissions:
    """The bus permissions of ``user`` (a service, ``platform`` or ``operator``) under ``names``' prefix."""
    if user == OPERATOR:
        return Permissions(publish=(">",), subscribe=(">",))
    if user == PLATFORM:
        publish, subscribe = _shared(names, user)
        publish += [f"{_API}.STREAM.UPDATE.{names.stream(p)}" for p in PRODUCERS]
        return Permissions(tuple(publish), tuple(subscribe))
    if user not in PRODUCERS:
        raise ValueError(f"no bus user {user!r}; known: {USERS}")
    publish, subscribe = _shared(names, user)
    own = names.stream(user)
    publish += [
        names.producer_subjects(user),
        names.subject(f"lkg.dlq.{user}.>"),
        names.subject(f"lkg.outbox.wake.{user}"),
        f"{_API}.STREAM.UPDATE.{own}",
        f"{_kv(names, 'clock')[1]}.service.{user}",
    ]
    subscribe += [names.subject(f"lkg.outbox.wake.{user}"), names.subject("lkg.clock.settle")]
    core = [names.subject(subject) for subject in CORE_SUBJECTS.get(user, ())]
    publish += core
    subscribe += core
    read = [names.stream(p) for p in READS[user]] + [names.retry_stream]
    for stream in read:
        publish += [
            f"{_API}.CONSUMER.CREATE.{stream}.{user}",
            f"{_API}.CONSUMER.CREATE.{stream}.{user}.>",
            f"{_API}.CONSUMER.INFO.{stream}.{user}",
            f"{_API}.CONSUMER.MSG.NEXT.{stream}.{user}",
            f"$JS.ACK.{stream}.{user}.>",
        ]
    return Permissions(tuple(publish), tuple(subscribe))


def _quote(value: str) -> str:
    return json.dumps(value)


def render_users(passwords: Mapping[str, str], names: Names, *, indent: str = "    ") -> str:
    """The ``users`` entries of a nats-server ``authorization`` block. A password is written as given: a
    quoted literal, or (deploy/) an unquoted ``$VARIABLE`` that nats-server reads from its environment."""
    entries = []
    for user in USERS:
        if user not in passwords:
            continue
        perms = permissions(user, names).as_config()
        password = passwords[user]
        secret = password if password.startswith("$") else _quote(password)
        item = f"\n{indent}        "
        publish = "".join(item + _quote(s) for s in perms["publish"]["allow"])  # type: ignore[index]
        subscribe = "".join(item + _quote(s) for s in perms["subscribe"]["allow"])  # type: ignore[index]
        entries.append(
            f"{indent}{{\n"
            f"{indent}  user: {_quote(user)}\n"
            f"{indent}  password: {secret}\n"
            f"{indent}  permissions: {{\n"
            f"{indent}    publish: {{ allow: [{publish}\n{indent}    ] }}\n"
            f"{indent}    subscribe: {{ allow: [{subscribe}\n{indent}    ] }}\n"
            f"{indent}    allow_responses: true\n"
            f"{indent}  }}\n"
            f"{indent}}}"
        )
    return "\n".join(entries)


def render_authorization(passwords: Mapping[str, str], names: Names) -> str:
    """A whole ``authorization { users = [...] }`` block: nobody connects without a user of the table."""
    return f"authorization {{\n  users = [\n{render_users(passwords, names)}\n  ]\n}}\n"


#: The variable each user's password is read from in deploy/ (nats-server's environment, from Secrets).
def password_variable(user: str) -> str:
    return f"LKG_NATS_PASSWORD_{user.upper()}"


DEPLOY_USERS = (*PRODUCERS, OPERATOR)
BEGIN = "# BEGIN authorization (generated by lkg.common.events.permissions: do not edit by hand)\n"
END = "# END authorization\n"


def deploy_block() -> str:
    """deploy/'s block: every service and the operator, passwords from the environment, no prefix."""
    passwords = {user: f"${password_variable(user)}" for user in DEPLOY_USERS}
    return BEGIN + render_authorization(passwords, Names("")) + END


def rewrite(path: Path) -> None:
    """Replace the generated block of a nats.conf (between BEGIN and END) with :func:`deploy_block`."""
    text = path.read_text()
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.DOTALL)
    if not pattern.search(text):
        raise SystemExit(f"{path}: no generated authorization block (BEGIN/END markers) to replace")
    path.write_text(pattern.sub(lambda _: deploy_block(), text))


if __name__ == "__main__":
    rewrite(Path(sys.argv[1]))

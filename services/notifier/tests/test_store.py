"""A message's id is the UUIDv5 of its person, kind and cause (docs/notifier.md: planning twice gives the
same id); the store hashes it without building a :class:`uuid.UUID`."""

from __future__ import annotations

import uuid

import pytest

from lkg.notifier.store import NAMESPACE, message_key


@pytest.mark.parametrize("cause", ["6f1c0b7e-8d7a-4c1e-9a53-2b1f4d0e9c11:L2", "breach-1", "报告:2020-05", ""])
def test_message_key_is_uuid5(cause: str) -> None:
    person = uuid.UUID("0b7c6a52-3f3e-4d43-a7a0-0d7f9b8c1e21")
    expected = uuid.uuid5(NAMESPACE, f"{person}/problem.escalated/{cause}")
    assert message_key(person, "problem.escalated", cause) == expected.bytes

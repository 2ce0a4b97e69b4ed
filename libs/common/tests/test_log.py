"""Structured logs: JSON lines, the correlation id on every line, personal data masked."""

from __future__ import annotations

import json

from lkg.common import log


def test_phone_and_id_numbers_are_masked():
    text = "联系人 13912345678，身份证 420112198805061234，项目代码 2020-420112-47-03-012345"
    assert log.mask_personal_data(text) == (
        "联系人 139****5678，身份证 420112********1234，项目代码 2020-420112-47-03-012345"
    )


def test_an_id_number_ending_in_x_is_masked():
    assert log.mask_personal_data("42011219880506123X") == "420112********123X"


def test_log_lines_are_json_with_the_correlation_id_and_masked_values(capsys):
    log.configure_logging("INFO", json=True)
    token = log.correlation_id.set("req-42")
    try:
        log.get_logger("test").info(
            "problem.reported", contact="13800138000", nested={"id": "420112198805061234"}
        )
    finally:
        log.correlation_id.reset(token)
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["event"] == "problem.reported"
    assert line["correlation_id"] == "req-42"
    assert line["contact"] == "138****8000"
    assert line["nested"] == {"id": "420112********1234"}
    assert line["level"] == "info"


def test_logging_writes_to_the_stderr_of_now_not_to_the_one_it_was_configured_with(monkeypatch, capsys):
    """Configured while stderr was a stream that is closed since (an earlier test's capture), a logger
    created later still writes, to the current stderr."""
    import io
    import sys

    earlier = io.StringIO()
    monkeypatch.setattr(sys, "stderr", earlier)
    log.configure_logging("INFO", json=True)
    monkeypatch.undo()
    earlier.close()
    log.get_logger("test.after_close").info("still.written")
    assert json.loads(capsys.readouterr().err.strip().splitlines()[-1])["event"] == "still.written"

"""Structured logs: JSON lines, the correlation id on every line, personal data masked."""

from __future__ import annotations

import asyncio
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


class _Writes:
    """A stand-in for stderr recording each write call."""

    def __init__(self) -> None:
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return len(text)


def _encode(line: dict) -> str:
    return json.dumps(line, ensure_ascii=False, separators=(",", ":"))


def test_access_lines_of_one_loop_turn_are_written_together_at_its_end(monkeypatch):
    stderr = _Writes()
    monkeypatch.setattr(log.sys, "stderr", stderr)
    sink = log._BatchedStderrSink()

    async def one_turn() -> list[str]:
        for n in range(3):
            sink({"n": n, "路径": "/api/v1/问题"}, _encode)
        written_during_the_turn = list(stderr.writes)
        await asyncio.sleep(0)  # the turn ends: the scheduled flush runs
        return written_during_the_turn

    during = asyncio.run(one_turn())
    assert during == []
    line = '{{"n":{},"路径":"/api/v1/问题"}}\n'
    assert stderr.writes == [line.format(0) + line.format(1) + line.format(2)]


def test_an_access_line_outside_a_loop_is_written_at_once(monkeypatch):
    stderr = _Writes()
    monkeypatch.setattr(log.sys, "stderr", stderr)
    sink = log._BatchedStderrSink()
    sink({"n": 1}, _encode)
    assert stderr.writes == ['{"n":1}\n']


def test_lines_left_by_a_loop_that_closed_are_written_by_the_next_one(monkeypatch):
    stderr = _Writes()
    monkeypatch.setattr(log.sys, "stderr", stderr)
    sink = log._BatchedStderrSink()

    async def log_and_turn(n: int) -> None:
        sink({"n": n}, _encode)
        await asyncio.sleep(0)

    loop = asyncio.new_event_loop()

    def log_and_stop() -> None:
        sink({"n": 1}, _encode)
        loop.stop()  # the flush it scheduled never runs: the loop stops, then closes

    loop.call_soon(log_and_stop)
    loop.run_forever()
    loop.close()
    assert stderr.writes == []
    asyncio.run(log_and_turn(2))
    assert stderr.writes == ['{"n":1}\n{"n":2}\n']

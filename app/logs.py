"""Logging set-up: plain lines in dev, one JSON object a line in production, and never a raw
email address or phone number in either.

``RedactPersonalData`` masks them (with the masks of ``app.security.masking``) in the message,
in extras (by field name, and by shape in any string), and in the formatted trace. It sits on
the ``agora`` handler and rewrites the record itself, so handlers further up the chain (the
root logger's, pytest's capture) see the redacted record too.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

from app.security.masking import mask, personal_kind, redact_text

__all__ = ["JsonFormatter", "RedactPersonalData", "configure_logging"]

_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            entry["trace"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def _redacted(key: str, value: Any) -> Any:
    if isinstance(value, str):
        kind = personal_kind(key)
        return mask(kind, value) if kind is not None else redact_text(value)
    if isinstance(value, dict):
        return {k: _redacted(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_redacted(key, v) for v in value)
    return value


class RedactPersonalData(logging.Filter):
    """Masks emails and phone numbers in a record before any handler formats it."""

    _traces = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed call; logging reports it as it would
            return True
        record.msg, record.args = redact_text(message), None
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD:
                record.__dict__[key] = _redacted(key, value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self._traces.formatException(record.exc_info)
        if record.exc_text:
            # Formatters reuse exc_text when it is set, so the raw trace is never rendered.
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return True


def configure_logging(level: str, *, json_lines: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactPersonalData())
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger("agora")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False

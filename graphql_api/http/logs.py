"""Logging to stderr as one JSON object per line (the default of `serve`) or as plain text."""

from __future__ import annotations

import json
import logging
import logging.config
import os
import sys
import time
from typing import Any

import orjson

from graphql_api.http.batched_logs import BatchingStreamHandler, handler_config

LOG_FORMATS = ("json", "text")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"

# Not copied into the line: the record's own machinery, and uvicorn's ANSI-coloured copy of the message.
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}


# orjson as json.dumps(default=str) writes: datetimes, dataclasses and subclasses of str or int through str.
_ORJSON_OPTIONS = (
    orjson.OPT_NON_STR_KEYS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, then the record's `extra` fields (or, when
    it has one, the dict `extra={"fields": {...}}` gave it: no scan of the record's attributes).

    Every request writes one (the request log line), so it is built for that: the time's second is
    formatted once per second, and orjson writes the line (json.dumps took more time than the rest).
    """

    def __init__(self) -> None:
        super().__init__()
        self._second = -1
        self._second_text = ""

    def format(self, record: logging.LogRecord) -> str:
        fields = record.__dict__.get("fields")
        if type(fields) is not dict:  # else the request log line's fields, given as one `extra`
            fields = {name: value for name, value in vars(record).items() if name not in _RECORD_ATTRIBUTES}
        if record.exc_info:
            fields = {**fields, "exception": self.formatException(record.exc_info)}
        return self.line(
            record.created, record.levelname, record.name, record.process, record.getMessage(), fields
        )

    def line(
        self, created: float, level: str, logger: str, pid: int | None, message: str, fields: dict[str, Any]
    ) -> str:
        """The JSON line of a record with these parts (`fields` after the five every line has)."""
        entry: dict[str, Any] = {
            "time": self._time(created),
            "level": level.lower(),
            "logger": logger,
            "pid": pid,  # which worker, when there are several
            "message": message,
        }
        entry.update(fields)
        try:
            return orjson.dumps(entry, default=str, option=_ORJSON_OPTIONS).decode()
        except (TypeError, orjson.JSONEncodeError):  # an integer past 64 bits, a str that is no UTF-8
            return json.dumps(entry, default=str, ensure_ascii=False)

    def _time(self, created: float) -> str:
        """`created` in UTC as ISO 8601 with milliseconds: 2026-12-05T17:04:56.123+00:00."""
        second = int(created)
        micro = round((created - second) * 1e6)  # rounded as datetime.fromtimestamp rounds it
        if micro >= 1_000_000:
            second, micro = second + 1, micro - 1_000_000
        if second != self._second:
            self._second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        return f"{self._second_text}.{micro // 1000:03d}+00:00"


class InfoLines:
    """A logger's lines at INFO with their fields (the request log line, one per request).

    When the one handler logging would call is the batching handler with a JsonFormatter and nothing
    filters (as `serve` configures it), the line goes straight to it, written as logging would write it:
    building the record and passing it down the loggers and the handler's checks cost as much as the
    rest of the line. Otherwise (another handler, a filter, pytest's caplog) it is logged as usual.
    """

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger

    def info(self, message: str, fields: dict[str, Any]) -> None:
        logger = self.logger
        if not logger.isEnabledFor(logging.INFO):
            return
        handler = self._sole_handler()
        formatter = handler.formatter if handler is not None else None
        if handler is None or type(formatter) is not JsonFormatter:
            logger.info(message, extra={"fields": fields})
            return
        line = formatter.line(time.time(), "INFO", logger.name, os.getpid(), message, fields)
        handler.acquire()
        try:
            handler.add(line, logging.INFO)
        except Exception:  # noqa: BLE001 - stderr failing: logging reports it (Handler.handleError)
            logger.info(message, extra={"fields": fields})
        finally:
            handler.release()

    def _sole_handler(self) -> BatchingStreamHandler | None:
        """The batching handler when it is the only one the logger's INFO records reach, unfiltered."""
        if self.logger.disabled or self.logger.filters:
            return None
        found = None
        current: logging.Logger | None = self.logger
        while current is not None:
            for handler in current.handlers:
                if found is not None:
                    return None
                found = handler
            if not current.propagate:
                break
            current = current.parent
        if type(found) is not BatchingStreamHandler or found.filters or found.level > logging.INFO:
            return None
        return found


def lean_records() -> None:
    """This process's log records leave out what no line prints: the caller's file and line (a walk up
    the stack per record), the thread and the process name (the logging HOWTO's "Optimization")."""
    logging._srcfile = None
    logging.logThreads = False
    logging.logMultiprocessing = False


def logging_config(log_format: str, level: str) -> dict[str, Any]:
    """A `logging.config.dictConfig` for stderr in `json` or `text`, uvicorn's loggers included."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)} (got {log_format!r})")
    formatter: dict[str, Any] = (
        {"()": f"{__name__}.JsonFormatter"} if log_format == "json" else {"format": TEXT_FORMAT}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        # Request lines written together, warnings and errors at once (http/batched_logs.py).
        "handlers": {"stderr": handler_config("default")},
        "root": {"handlers": ["stderr"], "level": level.upper()},
        # uvicorn's own loggers go through the root's handler, in the same format.
        "loggers": {
            name: {"handlers": [], "propagate": True, "level": level.upper()}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }


def configure_logging(log_format: str, level: str) -> None:
    """Log to stderr in `log_format`, as `logging.basicConfig` does: not when the root logger already
    has handlers (a program that embeds the CLI, or pytest, keeps its own)."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)} (got {log_format!r})")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler])

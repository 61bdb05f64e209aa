"""Log lines: JSON for machines, text for a terminal, and no ANSI colour inside JSON."""

from __future__ import annotations

import io
import json
import logging

from stockline.logs import JsonFormatter, TextFormatter, resolve_format


def _record(**extra: object) -> logging.LogRecord:
    record = logging.makeLogRecord(
        {"name": "uvicorn.error", "levelno": logging.INFO, "levelname": "INFO"}
    )
    record.msg = "Uvicorn running on http://127.0.0.1:8000"
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_json_lines_drop_uvicorns_colour_copy_of_the_message() -> None:
    colour = "Uvicorn running on \x1b[1mhttp://127.0.0.1:8000\x1b[0m"
    line = JsonFormatter().format(_record(color_message=colour, action="serve", port=8000))
    entry = json.loads(line)
    assert "color_message" not in entry and "\x1b" not in line
    assert entry["msg"] == "Uvicorn running on http://127.0.0.1:8000"
    assert entry["action"] == "serve" and entry["port"] == 8000


def test_text_lines_read_as_a_sentence_with_its_fields() -> None:
    line = TextFormatter().format(_record(color_message="\x1b[1mx", action="serve"))
    assert " INFO    uvicorn.error: Uvicorn running on http://127.0.0.1:8000  action=serve" in line
    assert "\x1b" not in line and "{" not in line


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_auto_is_text_on_a_terminal_and_json_elsewhere() -> None:
    assert resolve_format("auto", _Tty()) == "text"
    assert resolve_format("auto", io.StringIO()) == "json"
    assert resolve_format("json", _Tty()) == "json"
    assert resolve_format("text", io.StringIO()) == "text"

"""Records of a JSON list, one at a time, in memory bounded by the record size limit.

The file is decoded in chunks; each record is cut out with the C JSON decoder (`raw_decode`),
so time is linear in the file. A record larger than the limit, nested deeper than the limit, or
malformed is skipped by a scanner that counts brackets without building anything, and becomes
one `Skipped` item; the records after it still load. Damage that leaves no way to find the next
record (the file ends inside the list) raises `JsonDamage`.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

CHUNK = 1 << 16
_WS = re.compile(r"[ \t\r\n]*")
_DECODER = json.JSONDecoder(strict=False)
_STRUCT = re.compile(r'[\[\]{}"]')
_SCALAR_END = re.compile(r"[,\]}]")
_SEP = re.compile(r"[ \t\r\n]*([,\]])[ \t\r\n]*")
_STRING_BODY = re.compile(r'(?:[^"\\]++|\\.)*+', re.S)


class JsonDamage(ValueError):
    """The JSON cannot be followed further. Message without the file name."""


@dataclass
class Skipped:
    """A record that was not decoded, and why (one sentence, no file name)."""

    reason: str


def _depth_over(value, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values() if isinstance(v, dict | list))
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item if isinstance(v, dict | list))
    return False


class JsonStream:
    def __init__(self, raw: BinaryIO, codec: str, max_record: int, max_depth: int):
        self.raw = raw
        self.decoder = codecs.getincrementaldecoder(codec)(errors="replace")
        self.buf = ""
        self.pos = 0
        self.eof = False
        self.max_record = max_record
        self.max_depth = max_depth
        self.last_size = 0  # characters of the last value read

    # -- buffer -------------------------------------------------------------------------------
    def _more(self, size: int = CHUNK) -> bool:
        if self.eof:
            return False
        chunk = self.raw.read(size)
        text = self.decoder.decode(chunk, final=not chunk)
        if not chunk:
            self.eof = True
        self.buf = self.buf[self.pos :] + text
        self.pos = 0
        return bool(text) or not self.eof

    def peek(self) -> str | None:
        """The next character that is not white space, or None at the end of the file."""
        while True:
            self.pos = _WS.match(self.buf, self.pos).end()
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self._more():
                return None

    def skip_text(self, pattern: re.Pattern, limit: int = 4096) -> bool:
        """Consume `pattern` at the next non-space position (e.g. an archive prefix)."""
        self.peek()
        while len(self.buf) - self.pos < limit and self._more():
            pass
        m = pattern.match(self.buf, self.pos)
        if not m:
            return False
        self.pos = m.end()
        return True

    def expect(self, chars: str, after: str) -> str:
        ch = self.peek()
        if ch is None:
            raise JsonDamage(f"the file ends {after}")
        if ch not in chars:
            wanted = " or ".join(repr(c) for c in chars)
            raise JsonDamage(f"expected {wanted} {after}, found {ch!r}")
        self.pos += 1
        return ch

    # -- values -------------------------------------------------------------------------------
    def value(self):
        """The next JSON value, decoded; a `Skipped` when it breaks a limit or is malformed."""
        if (self.pos >= len(self.buf) or self.buf[self.pos] in " \t\r\n") and self.peek() is None:
            raise JsonDamage("the file ends where a value should be")
        start = self.pos
        while True:
            try:
                value, end = _DECODER.raw_decode(self.buf, self.pos)
            except RecursionError:
                return self._skip(f"it is nested deeper than {self.max_depth} levels")
            except json.JSONDecodeError as exc:
                near_end = exc.pos >= len(self.buf) - 8 or exc.msg.startswith("Unterminated")
                held = len(self.buf) - self.pos
                # Read as much again as is held, so a long record costs linear time.
                if near_end and held <= self.max_record and self._more(max(CHUNK, held)):
                    continue
                if near_end and self.eof:
                    raise JsonDamage("the file ends inside a record (truncated)") from None
                if len(self.buf) - self.pos > self.max_record:
                    return self._skip(f"it is larger than the {human_size(self.max_record)} limit")
                reason = f"it is not valid JSON ({exc.msg.lower()} at character {exc.pos - start})"
                return self._skip(reason)
            self.last_size = end - self.pos
            if end - self.pos > self.max_record:
                self.pos = end
                return Skipped(f"it is larger than the {human_size(self.max_record)} limit")
            nests = self.buf.count("[", self.pos, end) + self.buf.count("{", self.pos, end)
            self.pos = end
            if nests > self.max_depth and _depth_over(value, self.max_depth):
                return Skipped(f"it is nested deeper than {self.max_depth} levels")
            return value

    def _skip(self, reason: str) -> Skipped:
        """Move past the value at `pos` without decoding it; memory stays one chunk."""
        first = self.peek()
        if first is None:
            raise JsonDamage("the file ends inside a record (truncated)")
        if first == '"':
            self.pos += 1
            self._skip_string()
            return Skipped(reason)
        if first not in "[{":
            while True:
                m = _SCALAR_END.search(self.buf, self.pos)
                if m:
                    self.pos = m.start()
                    return Skipped(reason)
                self.pos = len(self.buf)
                if not self._more():
                    raise JsonDamage("the file ends inside a record (truncated)")
        depth = 0
        while True:
            if depth > 0 and self._bulk_close(depth):
                # No quote up to the next one (or the buffer end) and fewer closing brackets
                # there than open ones: the value cannot end here, so count in bulk.
                buf, pos = self.buf, self.pos
                quote = buf.find('"', pos)
                end = quote if quote != -1 else len(buf)
                closes = buf.count("]", pos, end) + buf.count("}", pos, end)
                depth += buf.count("[", pos, end) + buf.count("{", pos, end) - closes
                self.pos = end
                if quote != -1:
                    self.pos += 1
                    self._skip_string()
                elif not self._more():
                    raise JsonDamage("the file ends inside a record (truncated)")
                continue
            m = _STRUCT.search(self.buf, self.pos)
            if not m:
                self.pos = len(self.buf)
                if not self._more():
                    raise JsonDamage("the file ends inside a record (truncated)")
                continue
            ch = m.group()
            self.pos = m.end()
            if ch == '"':
                self._skip_string()
            elif ch in "[{":
                depth += 1
            else:
                depth -= 1
                if depth == 0:
                    return Skipped(reason)

    def _bulk_close(self, depth: int) -> bool:
        quote = self.buf.find('"', self.pos)
        end = quote if quote != -1 else len(self.buf)
        if end - self.pos < 64:
            return False
        return self.buf.count("]", self.pos, end) + self.buf.count("}", self.pos, end) < depth

    def _skip_string(self) -> None:
        """Move past the closing quote of the string whose opening quote is behind `pos`.
        One possessive regex (no backtracking) runs over the string's body in C."""
        while True:
            end = _STRING_BODY.match(self.buf, self.pos).end()
            if end < len(self.buf) and self.buf[end] == '"':
                self.pos = end + 1
                return
            self.pos = end  # the buffer ends inside the string (or after a lone backslash)
            if not self._more():
                raise JsonDamage("the file ends inside a string (truncated)")

    def items(self) -> Iterator:
        """The elements of the list that starts at the next '['."""
        self.expect("[", "where a list should start")
        if self.peek() == "]":
            self.pos += 1
            return
        buf_sep = _SEP
        while True:
            yield self.value()
            # Fast path: the separator and the white space around it are in the buffer.
            m = buf_sep.match(self.buf, self.pos)
            if m and m.end() < len(self.buf):
                self.pos = m.end()
                if m.group(1) == "]":
                    return
                continue
            if self.expect(",]", "after a record") == "]":
                return

    def members(self) -> Iterator[tuple[str, None]]:
        """Keys of the object at the next '{'; the caller reads or skips each value."""
        self.expect("{", "where an object should start")
        if self.peek() == "}":
            self.pos += 1
            return
        while True:
            key = self.value()
            if not isinstance(key, str):
                raise JsonDamage("an object key is not a string")
            self.expect(":", "after an object key")
            yield key, None
            if self.expect(",}", "after an object member") == "}":
                return

    def skip_value(self) -> None:
        self.peek()
        self._skip("")


def human_size(n: float) -> str:
    """`n` bytes for a message: '812 bytes', '1.5 MiB'."""
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}".replace(".0 ", " ")
        n /= 1024
    return str(n)

"""Text encodings decided by evidence in the file, and mojibake undone by round trip.

`detect_encoding` looks at byte order marks, at the NUL pattern of UTF-16/32 without a mark, at
whether the whole file is valid UTF-8, and, for text that went through a wrong decode/encode
chain, at which chain undoes the most lines exactly. A chain is one or two *passes*; a pass is
"bytes read as cp1252 (or latin-1), the text saved as Mac Roman (or UTF-8)". Repair walks the
passes back and re-encodes the result forward again: a line counts as repaired only when that
round trip gives the bytes the file holds. Bytes that a pass destroyed (a character with no Mac
Roman code) come back as U+FFFD, and the parse report counts them.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

CHUNK = 1 << 20
SAMPLE_BYTES = 8 << 20  # how much of the file is read for evidence about a mojibake chain
SAMPLE_LINES = 4000

BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
BINARY_MAGIC = (
    b"%PDF",
    b"\x89PNG",
    b"GIF8",
    b"\xff\xd8\xff",
    b"\x1f\x8b",
    b"BZh",
    b"7z\xbc\xaf",
    b"\xfd7zXZ",
    b"SQLite format",
    b"PAR1",
)
_CONTROL = bytes(b for b in range(32) if b not in (9, 10, 12, 13)) + b"\x7f"

# What the writer of the X-era CSVs put where a character had no Mac Roman code: the UTF-8 lead
# bytes E2 80 survive and the third byte became "_" (for "…", U+2026; one pass or two) or, in the
# two-pass files, a character that is lost again (for "”", U+201D). The data shows no other
# character in those places, so these two are filled back in.
_FILLS = ((b"\xe2\x80_", b"\xe2\x80\xa6"), (b"\xe2\x80\xff", b"\xe2\x80\x9d"))
_LOST = b"\xff"  # never valid in UTF-8, so a destroyed byte decodes to U+FFFD at the end
# A UTF-8 sequence one of whose bytes a pass replaced ("?", "_" or a lost byte): one U+FFFD.
_BROKEN = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf?_\xff]|[\xe0-\xef][\x80-\xbf?_\xff]{2}|[\xf0-\xf4][\x80-\xbf?_\xff]{3}"
)


def _one_lost(m: re.Match) -> bytes:
    seq = m.group()
    return seq if not re.search(rb"[?_\xff]", seq) else "\ufffd".encode()


def _sloppy_decode(exc: UnicodeDecodeError):
    # The five bytes cp1252 leaves undefined pass through as their latin-1 code points.
    return "".join(chr(b) for b in exc.object[exc.start : exc.end]), exc.end


def _lost(exc: UnicodeEncodeError):
    return _LOST * (exc.end - exc.start), exc.end


codecs.register_error("reer-sloppy", _sloppy_decode)
codecs.register_error("reer-lost", _lost)


def _encoder_table(codec: str) -> dict[int, str]:
    """str.translate table that maps each character of a single-byte codec to chr(its byte)."""
    table = {}
    for b in range(256):
        ch = bytes([b]).decode(codec, errors="reer-sloppy")
        table[ord(ch)] = chr(b)
    for c in range(128, 256):  # latin-1 code points this codec does not produce are lost
        table.setdefault(c, "\ufffd")
    return table


_TABLES = {name: _encoder_table(name) for name in ("cp1252", "latin-1", "mac_roman")}


def encode_single(text: str, codec: str) -> bytes:
    """Encode with a single-byte codec; characters it has no code for become byte FF."""
    return text.translate(_TABLES[codec]).encode("latin-1", errors="reer-lost")


def decode_single(data: bytes, codec: str) -> str:
    return data.decode(codec, errors="reer-sloppy")


@dataclass(frozen=True)
class Chain:
    """`passes` times: UTF-8 bytes read as `inner`, saved as `outer`."""

    outer: str  # 'mac_roman' or 'utf-8'
    inner: str  # 'cp1252' or 'latin-1'
    passes: int

    @property
    def label(self) -> str:
        times = "once" if self.passes == 1 else "twice"
        return f"UTF-8 read as {self.inner} and saved as {self.outer} {times}"

    def undo(self, line: str) -> tuple[str, bool]:
        """(repaired line, exact): `line` is the file's text decoded with `outer`."""
        text = line
        for step in range(self.passes):
            data = encode_single(text, self.inner)
            if step < self.passes - 1:
                text = (
                    data.decode("utf-8", "replace")
                    if self.outer == "utf-8"
                    else data.decode(self.outer)
                )
        if self.outer == "mac_roman":
            for lost, full in _FILLS[: self.passes]:
                data = data.replace(lost, full)
        try:
            return data.decode("utf-8"), True
        except UnicodeDecodeError:
            return _BROKEN.sub(_one_lost, data).decode("utf-8", "replace"), False

    def redo(self, text: str) -> str:
        """The forward chain: the file's line (decoded with `outer`) for the original `text`."""
        data = text.encode("utf-8")
        for _ in range(self.passes):
            once = decode_single(data, self.inner)
            data = (
                once.encode("utf-8") if self.outer == "utf-8" else encode_single(once, self.outer)
            )
        return data.decode("utf-8", "replace") if self.outer == "utf-8" else data.decode(self.outer)


CHAINS_NOT_UTF8 = [Chain("mac_roman", i, n) for n in (1, 2) for i in ("cp1252", "latin-1")]
CHAINS_UTF8 = [Chain("utf-8", i, n) for n in (1, 2) for i in ("cp1252", "latin-1")]
# Characters that UTF-8 lead and continuation bytes become under cp1252/latin-1: "Ã©", "â€™", ...
SUSPECT_UTF8 = re.compile(
    "[\u00c2-\u00f4][\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6"
    "\u02dc\u2013\u2014\u2018-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122]"
)


@dataclass
class Encoding:
    codec: str  # what the file's bytes are decoded with
    skip: int = 0  # bytes of byte order mark
    chain: Chain | None = None  # mojibake to undo, line by line, after decoding
    note: str = ""  # how this was decided, for the parse report

    @property
    def label(self) -> str:
        return f"{self.codec}, repaired: {self.chain.label}" if self.chain else self.codec

    def repairer(self) -> Callable[[str], tuple[str, int]] | None:
        """A function line -> (line, 1 if repaired else 0), or None when nothing is to repair."""
        chain = self.chain
        if chain is None:
            return None

        def repair(line: str) -> tuple[str, int]:
            if line.isascii():
                return line, 0
            fixed, exact = chain.undo(line)
            if exact:
                return (fixed, 1) if fixed != line else (line, 0)
            if chain.outer == "utf-8" and not _verified_part(chain, fixed, line):
                return line, 0  # real UTF-8 that is not mojibake: leave it alone
            # The file is not UTF-8 and this chain fits it: a line it cannot undo exactly lost
            # bytes on the way in, which come back as U+FFFD (counted in the parse report).
            return fixed, 1

        return repair


class EncodingError(ValueError):
    """The bytes are no text this reader knows; the message says why, without the file name."""


def sniff_bytes(head: bytes) -> Encoding | None:
    """What the first bytes prove: a BOM, UTF-16/32 by their NUL pattern, or binary (raises).
    None when they prove nothing yet (an 8-bit text encoding: UTF-8, Mac Roman, cp1252)."""
    for bom, codec in BOMS:
        if head.startswith(bom):
            return Encoding(codec, len(bom), note="byte order mark")
    if head.startswith(BINARY_MAGIC):
        raise EncodingError("binary file (its first bytes are those of an image or archive)")
    sample = head[: 1 << 16]
    n = len(sample) - len(sample) % 4
    if n >= 4 and sample.count(0) * 4 > n:
        for codec, zero_at in (
            ("utf-32-le", (1, 2, 3)),
            ("utf-32-be", (0, 1, 2)),
            ("utf-16-le", (1, 3)),
            ("utf-16-be", (0, 2)),
        ):
            zeros = [sample[i:n:4].count(0) / (n // 4) for i in range(4)]
            rest = [zeros[i] for i in range(4) if i not in zero_at]
            if min(zeros[i] for i in zero_at) > 0.7 and max(rest) < 0.2:
                return Encoding(codec, note="UTF-16/32 recognised by its NUL bytes")
    controls = sum(sample.count(c) for c in _CONTROL)
    if sample and controls > 0.05 * len(sample):
        raise EncodingError(
            f"binary file ({controls} control bytes in the first {len(sample)}), not a text export"
        )
    return None


def detect_encoding(path: Path, head: bytes) -> Encoding:
    """The encoding of a text file, by evidence. Raises EncodingError when none fits."""
    found = sniff_bytes(head)
    if found is not None:
        return found
    invalid = _first_invalid_utf8(path)
    if invalid is None:
        chain = _best_chain(path, "utf-8", CHAINS_UTF8)
        return Encoding(
            "utf-8", chain=chain, note="valid UTF-8" + (" with mojibake" if chain else "")
        )
    chain = _best_chain(path, "mac_roman", CHAINS_NOT_UTF8)
    if chain is not None:
        return Encoding("mac_roman", chain=chain, note="mojibake chain verified by round trip")
    offset, byte = invalid
    return Encoding(
        "cp1252",
        note=f"not UTF-8 (byte 0x{byte:02x} at offset {offset}) and no mojibake chain fits: "
        "read as Windows-1252",
    )


def _first_invalid_utf8(path: Path) -> tuple[int, int] | None:
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                return offset + exc.start, chunk[exc.start]
            offset += len(chunk)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return offset, 0
    return None


def _sample_lines(path: Path, codec: str) -> list[str]:
    lines = []
    with path.open("rb") as f:
        data = f.read(SAMPLE_BYTES)
    for raw in data.split(b"\n")[:-1] if len(data) == SAMPLE_BYTES else data.split(b"\n"):
        if not raw.isascii():
            lines.append(raw.decode(codec, errors="replace").replace("\x00", ""))
            if len(lines) >= SAMPLE_LINES:
                break
    return lines


def _best_chain(path: Path, codec: str, chains: list[Chain]) -> Chain | None:
    """The chain that undoes the most sample lines exactly (round trip included), if any."""
    lines = _sample_lines(path, codec)
    if codec == "utf-8":
        lines = [line for line in lines if SUSPECT_UTF8.search(line)]
    if not lines:
        return None
    best, best_score = None, 0
    for chain in chains:
        score = 0
        for line in lines:
            fixed, exact = chain.undo(line)
            if exact and fixed != line and chain.redo(fixed) == line:
                score += 2
            elif not exact and _verified_part(chain, fixed, line):
                score += 1
        if score > best_score:  # ties keep the earlier chain: fewer passes, cp1252 first
            best, best_score = chain, score
    # UTF-8 that merely looks like mojibake in a few lines is left alone.
    if codec == "utf-8" and best_score < max(2, len(lines)):
        return None
    return best


def _verified_part(chain: Chain, fixed: str, line: str) -> bool:
    """A line that lost bytes: do the characters it recovered round-trip into the line, and
    are there at least as many of them as lost ones?"""
    recovered = {c for c in fixed if ord(c) > 127 and c != "\ufffd"}
    verified = sum(1 for c in recovered if chain.redo(c) in line)
    return verified > 0 and verified >= fixed.count("\ufffd") - line.count("\ufffd")

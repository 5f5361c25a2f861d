"""ingest/encoding.py on real bytes: byte order marks, UTF-16/32 without one, mojibake made by
Python's own codecs one and two passes deep, and a character a pass destroyed."""

import codecs
from pathlib import Path

import pytest

from reer_pipeline.ingest.encoding import EncodingError, detect_encoding, sniff_bytes

LINES = [
    "It\u2019s a caf\u00e9 \u2014 na\u00efve",
    "Se\u00f1or Mu\u00f1oz r\u00e9sum\u00e9",
    "\u00a1Hola! \u00bfQu\u00e9 tal?",
    "d\u00e9j\u00e0 vu",
]


def garble(data: bytes, passes: int, errors: str = "strict") -> bytes:
    """What a wrong tool chain did to UTF-8 bytes: read them as cp1252, save as Mac Roman."""
    for _ in range(passes):
        data = data.decode("cp1252").encode("mac_roman", errors)
    return data


def detect(tmp_path: Path, data: bytes):
    path = tmp_path / "export.csv"
    path.write_bytes(data)
    return detect_encoding(path, data[: 1 << 16])


def repaired(encoding, data: bytes) -> list[str]:
    """Each line of the file as the reader gives it: decoded, then repaired."""
    repair = encoding.repairer()
    text = data[encoding.skip :].decode(encoding.codec)
    return [repair(line)[0] if repair else line for line in text.splitlines()]


def csv_of(lines: list[str]) -> str:
    return "text\n" + "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    "codec, bom",
    [
        ("utf-16-le", codecs.BOM_UTF16_LE),
        ("utf-16-be", codecs.BOM_UTF16_BE),
        ("utf-32-le", codecs.BOM_UTF32_LE),
        ("utf-8", codecs.BOM_UTF8),
    ],
)
def test_a_byte_order_mark_decides_and_is_skipped(tmp_path, codec, bom):
    data = bom + csv_of(LINES).encode(codec)
    found = detect(tmp_path, data)
    assert (found.codec, found.skip, found.chain) == (codec, len(bom), None)
    assert repaired(found, data) == ["text", *LINES]


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
def test_utf16_and_utf32_without_a_mark_are_known_by_their_nul_bytes(tmp_path, codec):
    data = csv_of(LINES).encode(codec)
    found = detect(tmp_path, data)
    assert (found.codec, found.skip) == (codec, 0)
    assert repaired(found, data) == ["text", *LINES]


def test_plain_utf8_is_left_alone(tmp_path):
    lines = [*LINES, "\u65e5\u672c\u8a9e \u00c3 la carte"]  # an "Ã" that is no mojibake
    data = csv_of(lines).encode()
    found = detect(tmp_path, data)
    assert (found.codec, found.chain) == ("utf-8", None)
    assert repaired(found, data) == ["text", *lines]


def test_utf8_that_was_read_as_cp1252_once_is_repaired(tmp_path):
    data = csv_of([line.encode().decode("cp1252") for line in LINES]).encode()
    found = detect(tmp_path, data)
    assert found.codec == "utf-8" and found.chain.passes == 1
    assert repaired(found, data) == ["text", *LINES]


@pytest.mark.parametrize("passes", [1, 2])
def test_mac_roman_mojibake_is_undone_pass_by_pass(tmp_path, passes):
    data = garble(csv_of(LINES).encode(), passes)
    assert data.decode("mac_roman") != csv_of(LINES)
    found = detect(tmp_path, data)
    assert found.codec == "mac_roman" and found.chain.passes == passes
    assert repaired(found, data) == ["text", *LINES]


def test_a_character_a_pass_destroyed_becomes_one_replacement_character(tmp_path):
    """'ü' is C3 BC in UTF-8; cp1252 reads BC as '¼', which Mac Roman cannot store."""
    lost = "Caf\u00e9 in Z\u00fcrich"
    data = garble(csv_of([*LINES, lost]).encode(), 1, errors="replace")
    found = detect(tmp_path, data)
    assert found.chain.passes == 1
    assert repaired(found, data) == ["text", *LINES, "Caf\u00e9 in Z\ufffdrich"]


def test_bytes_no_chain_explains_are_read_as_windows_1252(tmp_path):
    data = csv_of(["caf\u00e9 cr\u00e8me \u20ac5"]).encode("cp1252")
    found = detect(tmp_path, data)
    assert (found.codec, found.chain) == ("cp1252", None)
    assert "not UTF-8" in found.note
    assert repaired(found, data)[1] == "caf\u00e9 cr\u00e8me \u20ac5"


@pytest.mark.parametrize(
    "head",
    [b"\x89PNG\r\n\x1a\n" + bytes(64), b"PK\x03\x04" + bytes(range(256)) * 4],
    ids=["png", "control bytes"],
)
def test_binary_files_are_refused_with_a_reason(head):
    with pytest.raises(EncodingError, match="binary file"):
        sniff_bytes(head)


def test_eight_bit_text_proves_nothing_from_its_first_bytes():
    assert sniff_bytes("caf\u00e9".encode()) is None
    assert sniff_bytes("caf\u00e9".encode("cp1252")) is None

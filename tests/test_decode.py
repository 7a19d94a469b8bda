"""Bytes -> text: each encoding rule."""

from __future__ import annotations

import codecs

from etl.decode import decode_dump

TEXT = "Café Models\nAn abstract about Zürich.\n"


def test_utf8_is_read_as_is():
    decoded = decode_dump(TEXT.encode("utf-8"))
    assert (decoded.text, decoded.encoding, decoded.note) == (TEXT, "utf-8", None)


def test_utf8_bom_is_stripped():
    assert decode_dump(codecs.BOM_UTF8 + TEXT.encode("utf-8")).text == TEXT


def test_utf16_with_bom_is_decoded():
    for encoding in ("utf-16-le", "utf-16-be"):
        bom = codecs.BOM_UTF16_LE if encoding.endswith("le") else codecs.BOM_UTF16_BE
        assert decode_dump(bom + TEXT.encode(encoding)).text == TEXT


def test_latin1_file_is_decoded_with_a_note_naming_the_offset():
    decoded = decode_dump(TEXT.encode("latin-1"))
    assert decoded.text == TEXT
    assert decoded.note == "not UTF-8 (byte offset 3); decoded as cp1252"


def test_corrupt_utf8_keeps_bad_bytes_as_surrogates():
    data = TEXT.encode("utf-8") + b"Broken \xff title\n"
    decoded = decode_dump(data)
    assert decoded.note == f"invalid UTF-8 at byte offset {len(TEXT.encode()) + 7}"
    assert decoded.text is not None and "\udcff" in decoded.text


def test_binary_files_are_refused():
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    zipped = b"PK\x03\x04" + b"\x00" * 40
    assert decode_dump(png).error == "binary_file"
    assert decode_dump(png).message == "binary content (PNG image)"
    assert decode_dump(zipped).error == "binary_file"
    assert decode_dump(b"abc\x00def").message == "binary content (NUL bytes)"


def test_broken_utf16_reports_the_byte_offset():
    decoded = decode_dump(codecs.BOM_UTF16_LE + "ab".encode("utf-16-le") + b"\x00\xd8")
    assert decoded.error == "undecodable_text"
    assert decoded.message == "invalid utf-16-le at byte offset 6"


def test_utf16_without_bom_is_decoded_and_noted():
    text = "Title\n\nAn abstract about caf\u00e9s.\n"
    for encoding in ("utf-16-le", "utf-16-be"):
        decoded = decode_dump(text.encode(encoding))
        assert decoded.text == text
        assert decoded.note == f"no byte order mark; decoded as {encoding}"


def test_nul_bytes_that_are_not_utf16_are_still_binary():
    assert decode_dump(b"a\x00b\x00\x00\xd8").message == "binary content (NUL bytes)"
    assert decode_dump(b"ab\x00\x00cd\x00\x00").message == "binary content (NUL bytes)"

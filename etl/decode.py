"""Bytes -> text. Decides, per file, whether the bytes are text at all and in which encoding.

Browsers save copied text as UTF-8 (sometimes with a BOM) or, on Windows, UTF-16 with a
BOM; older tools write Windows-1252. Anything else is reported with its byte offset.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

# Signatures of binary formats people drop into folders by mistake.
_BINARY_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG image"),
    (b"PK\x03\x04", "ZIP archive"),
    (b"%PDF-", "PDF document"),
    (b"GIF8", "GIF image"),
    (b"\xff\xd8\xff", "JPEG image"),
    (b"\x1f\x8b", "gzip archive"),
    (b"\x7fELF", "ELF executable"),
)
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Control characters that never occur in copied page text (tab, LF, CR, FF excluded).
_CONTROL_BYTES = bytes(b for b in range(32) if b not in (9, 10, 12, 13))


@dataclass(frozen=True, slots=True)
class DecodedDump:
    """The text of a dump, or why there is none.

    `error` is a reject reason (`binary_file`, `undecodable_text`) with `message` saying
    where; `note` explains a non-default decoding that still gave text.
    """

    text: str | None
    encoding: str | None
    error: str | None = None
    message: str | None = None
    note: str | None = None
    has_undecoded_bytes: bool = False  # the text keeps bad bytes as lone surrogates


# How much of a file's start tells binary from text and UTF-16 from the rest.
SNIFF_BYTES = 65536


def binary_kind(data: bytes) -> str | None:
    for signature, kind in _BINARY_SIGNATURES:
        if data.startswith(signature):
            return kind
    head = data[:SNIFF_BYTES]
    if b"\x00" in head:
        return "NUL bytes"
    if head and (len(head) - len(head.translate(None, _CONTROL_BYTES))) / len(head) > 0.05:
        return "control bytes"
    return None


def _bomless_utf16(data: bytes) -> str | None:
    """UTF-16 saved without a BOM, told by its NUL bytes: mostly-ASCII text in UTF-16 has
    a NUL in every other byte, on the odd side for little-endian, the even for big."""
    head = data[:SNIFF_BYTES]
    if len(data) % 2 or len(head) < 4:
        return None
    even, odd = head[0::2], head[1::2]
    half = len(head) // 2
    for nuls, other, encoding in ((odd, even, "utf-16-le"), (even, odd, "utf-16-be")):
        if nuls.count(0) > 0.9 * half and other.count(0) == 0:
            return encoding
    return None


def decode_dump(data: bytes) -> DecodedDump:
    """Decode a dump's bytes, stripping any BOM."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return DecodedDump(data[len(bom) :].decode(encoding), encoding)
            except UnicodeDecodeError as exc:
                offset = exc.start + len(bom)
                return DecodedDump(
                    None, None, "undecodable_text", f"invalid {encoding} at byte offset {offset}"
                )
    bomless = _bomless_utf16(data)
    if bomless is not None:
        try:
            text = data.decode(bomless)
        except UnicodeDecodeError:
            pass  # not text after all: binary_kind reports the NUL bytes
        else:
            return DecodedDump(text, bomless, note=f"no byte order mark; decoded as {bomless}")
    kind = binary_kind(data)
    if kind is not None:
        return DecodedDump(None, None, "binary_file", f"binary content ({kind})")
    try:
        return DecodedDump(data.decode("utf-8"), "utf-8")
    except UnicodeDecodeError as exc:
        first_bad = exc.start
    # Not UTF-8. If no byte sequence in it is valid multi-byte UTF-8, it is a legacy
    # 8-bit file (Latin-1 / Windows-1252): decode it so accented titles survive.
    # If it mixes valid UTF-8 with invalid bytes, it is corrupt: the bad bytes are kept as
    # lone surrogates so the parser can reject exactly the records they touch.
    valid_multibyte = any(ord(c) > 127 for c in data.decode("utf-8", errors="ignore"))
    if not valid_multibyte:
        try:
            text = data.decode("cp1252")
            encoding = "cp1252"
        except UnicodeDecodeError:
            text = data.decode("latin-1")
            encoding = "latin-1"
        return DecodedDump(
            text, encoding, note=f"not UTF-8 (byte offset {first_bad}); decoded as {encoding}"
        )
    return DecodedDump(
        data.decode("utf-8", errors="surrogateescape"),
        "utf-8",
        note=f"invalid UTF-8 at byte offset {first_bad}",
        has_undecoded_bytes=True,
    )

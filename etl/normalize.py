"""Normalization: the text rules that make copies of the same page compare equal.

Unicode NFC, LF line endings, no trailing spaces, folded inner whitespace; plus the folding
keys the deduplicator compares (see etl/dedupe.py for the rule that uses them).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

_TRAILING_SPACE = re.compile(r"[^\S\n]+(?=\n|\Z)")
_NON_ALNUM = re.compile(r"[\W_]+")
_ELLIPSIS_TAIL = re.compile(r"\s*(?:\.\.\.|…)\s*\Z")
# Lone surrogates stand for bytes that were not valid UTF-8 (see etl/decode.py).
_UNDECODED = re.compile("[\udc80-\udcff]")


def normalize_text(text: str) -> str:
    """Whole-dump normalization; it never changes the number of lines."""
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.isascii() and not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    return _TRAILING_SPACE.sub("", text)


def fold_spaces(value: str) -> str:
    """Trim and collapse every run of whitespace (incl. non-breaking) to one space."""
    return " ".join(value.split())


def title_key(title: str) -> str:
    """Case, punctuation, hyphen and whitespace folded: `Meta-Learning!` == `meta learning`."""
    key = _NON_ALNUM.sub("", title.casefold())
    return key or fold_spaces(title).casefold()


def abstract_key(abstract: str) -> str:
    """Whitespace-folded abstract without a trailing ellipsis (a sign of truncation)."""
    return _ELLIPSIS_TAIL.sub("", fold_spaces(abstract))


def has_undecoded_bytes(value: str) -> bool:
    return _UNDECODED.search(value) is not None


def printable(value: str) -> str:
    """Text safe to store and print: undecodable bytes shown as U+FFFD."""
    return _UNDECODED.sub("\ufffd", value)


def stable_id(*parts: str) -> str:
    """16 hex digits of SHA-256: short, stable across runs and machines."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:16]

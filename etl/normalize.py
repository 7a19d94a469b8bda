"""Normalization: the text rules that make copies of the same page compare equal.

LF line endings and no trailing spaces per dump; Unicode NFC and folded inner whitespace per
field (title, abstract); plus the folding
keys the deduplicator compares (see etl/dedupe.py for the rule that uses them).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

import polars as pl

_ELLIPSIS_TAIL = r"\s*(?:\.\.\.|\u2026)$"
# Whitespace that `fold_spaces` would change: a run, a leading space, or anything but a space
# (U+001C..U+001F too: `str.split` counts them as whitespace, the regex `\s` does not).
_UNFOLDED_SPACE = r"\s\s|^\s|[^\S ]|[\x1c-\x1f]"
# The same for plain ASCII text, split into checks that each run at memchr speed (an
# alternation of them is 20x slower: it defeats the regex engine's literal prefilter).
_ASCII_SPACE_BUT_SPACE = r"[\t\n\x0b\x0c\r\x1c-\x1f]"
# The abstract's share of a record id: enough to tell apart papers with equal titles.
ID_ABSTRACT_CHARS = 100
# Revised-title candidates share their abstract's first or last this many characters.
BLOCK_CHARS = 120
# Lone surrogates stand for bytes that were not valid UTF-8 (see etl/decode.py).
_UNDECODED = re.compile("[\udc80-\udcff]")


def dump_lines(text: str) -> tuple[list[str], bool]:
    """A dump's lines as a person counts them, and whether the last one ended with a newline.

    BOM removed, CRLF/CR made LF, trailing whitespace stripped; never changes the line count.
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = [line.rstrip() for line in text.split("\n")]
    ends_with_newline = text.endswith("\n")
    if ends_with_newline or lines == [""]:
        lines.pop()
    return lines, ends_with_newline


def fold_spaces(value: str) -> str:
    """Trim and collapse every run of whitespace (incl. non-breaking) to one space."""
    return " ".join(value.split())


def stored_text(value: str) -> str:
    """A title or abstract as the tables store it: NFC, then spaces folded (what
    `clean_records` does to a whole column)."""
    return fold_spaces(unicodedata.normalize("NFC", value))


def _nfc(column: pl.Series) -> pl.Series:
    """NFC, computed only for the (few) values that are not plain ASCII."""
    non_ascii = (column.str.len_bytes() != column.str.len_chars()).fill_null(False)
    indices = non_ascii.arg_true()
    if indices.len() == 0:
        return column
    values = [unicodedata.normalize("NFC", v) for v in column.gather(indices).to_list()]
    return column.scatter(indices, pl.Series(values, dtype=pl.String))


def _folded(column: pl.Series) -> pl.Series:
    """`fold_spaces`, computed only where some whitespace needs folding.

    Cheap byte-level checks first; the Unicode whitespace class only on non-ASCII values.
    """
    needs = (
        column.str.contains(_ASCII_SPACE_BUT_SPACE)
        | column.str.contains("  ", literal=True)
        | column.str.starts_with(" ")
    ).fill_null(False)
    non_ascii = (column.str.len_bytes() != column.str.len_chars()).fill_null(False)
    wide = non_ascii.arg_true()
    if wide.len():
        unicode_space = column.gather(wide).str.contains(_UNFOLDED_SPACE).fill_null(False)
        needs = needs.scatter(wide, needs.gather(wide) | unicode_space)
    indices = needs.arg_true()
    if indices.len() == 0:
        return column
    values = [fold_spaces(v) for v in column.gather(indices).to_list()]
    return column.scatter(indices, pl.Series(values, dtype=pl.String))


def clean_records(records: pl.DataFrame) -> pl.DataFrame:
    """Raw titles and abstracts -> stored values (NFC, folded spaces) and the dedup keys.

    `title_key`: lower-cased with everything but letters and digits removed, so case,
    punctuation, hyphens and whitespace do not matter. `abstract_key`: the folded abstract
    without a trailing `...`/`…` (a sign of truncation). `record_id`: `stable_id` of the title
    key and the abstract key's first 100 characters; a paper's id is the smallest record id
    among its records. `a_hash`, `prefix_hash`, `suffix_hash`, `abstract_len`: what the
    deduplicator compares abstracts by, so that it never needs the abstracts themselves.
    The rule using them: etl/dedupe.py.
    """
    title = _folded(_nfc(records["title"]))
    abstract = _folded(_nfc(records["abstract"]))
    cleaned = records.with_columns(title, abstract).with_columns(
        pl.col("title").str.to_lowercase().str.replace_all(r"[\W_]+", "").alias("title_key"),
        pl.col("abstract").str.replace(_ELLIPSIS_TAIL, "").alias("abstract_key"),
    )
    cleaned = cleaned.with_columns(
        pl.when(pl.col("title_key") == "")
        .then(pl.col("title").str.to_lowercase())
        .otherwise(pl.col("title_key"))
        .alias("title_key")
    )
    heads = cleaned["abstract_key"].str.slice(0, ID_ABSTRACT_CHARS).fill_null("")
    record_ids = [
        stable_id(t, a)
        for t, a in zip(cleaned["title_key"].to_list(), heads.to_list(), strict=True)
    ]
    abstract_key = pl.col("abstract_key")
    return cleaned.with_columns(
        pl.Series("record_id", record_ids, dtype=pl.String),
        abstract_key.str.len_chars().cast(pl.Int32).alias("abstract_len"),
        *(
            pl.when(abstract_key.is_not_null()).then(value.hash()).alias(name)
            for name, value in (
                ("a_hash", abstract_key),
                ("prefix_hash", abstract_key.str.slice(0, BLOCK_CHARS)),
                ("suffix_hash", abstract_key.str.slice(-BLOCK_CHARS)),
            )
        ),
    )


def abstract_key(abstracts: pl.Series, abstract_lens: pl.Series) -> pl.Series:
    """The abstract keys of stored abstracts: each abstract's first `abstract_len` characters.

    The key is the abstract without a trailing truncation mark, so always a prefix of it:
    stored records keep only the abstract and that length, not a second copy of every
    abstract (which was 45 % of the record store).
    """
    return abstracts.str.slice(0, abstract_lens).alias("abstract_key")


def has_undecoded_bytes(value: str) -> bool:
    return _UNDECODED.search(value) is not None


def printable(value: str) -> str:
    """Text safe to store and print: undecodable bytes shown as U+FFFD."""
    return _UNDECODED.sub("\ufffd", value)


def stable_id(*parts: str) -> str:
    """16 hex digits of SHA-256: short, stable across runs and machines."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:16]

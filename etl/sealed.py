"""Pickles a build keeps for the next one (the record store's metadata, the digest memo),
sealed by a checksum: a damaged file reads as missing, never as other values.

Unpickling damaged bytes can give other values that look sound (another row range, another
link), raise almost anything, panic inside a library (a polars frame) or abort the process on
a huge allocation, so the bytes are checked before they are unpickled. What a seal cannot
tell is a class changed since the pickle was written (fields swapped would load swapped): the
record store's classes are pinned to `config.PARSER_VERSION` by a test for that reason.
"""

from __future__ import annotations

import contextlib
import os
import pickle
from pathlib import Path

import xxhash

_SEAL_BYTES = 16  # XXH3-128 of the pickle, before it


def write_sealed(path: Path, value: object) -> None:
    """Write `value` sealed, atomically (a temporary file, then renamed). Raises OSError."""
    payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    temporary = path.with_name(f"{path.name}.tmp{os.getpid()}")
    try:
        with open(temporary, "wb") as handle:
            handle.write(xxhash.xxh3_128_digest(payload))
            handle.write(payload)
        temporary.replace(path)
    except BaseException:
        with contextlib.suppress(OSError):  # a read-only folder refuses this too
            temporary.unlink(missing_ok=True)
        raise


def read_sealed(path: Path) -> object | None:
    """What `write_sealed` wrote at `path`, or None: missing, unreadable, damaged, or holding
    classes this code no longer has."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    seal, payload = data[:_SEAL_BYTES], data[_SEAL_BYTES:]
    if len(seal) < _SEAL_BYTES or xxhash.xxh3_128_digest(payload) != seal:
        return None
    try:
        return pickle.loads(payload)
    except Exception:  # the bytes are sound: the classes they name have changed since
        return None

"""Dumps' content hashes, remembered by file status, so that a dump the record store has
already is found without reading it again.

The store finds a dump's parse by the dump's SHA-256, and computing it meant reading the
whole pile on every build (0.85 s of one core for 1 GB). Like git's index, a remembered
hash is used while the file's status (device, inode, size, modification and change times)
is what it was when the file was hashed; any other status, and the file is hashed again.

The change time is set by the kernel on every write (and rename or chmod), and ordinary
tools cannot set it back, so an edit that keeps the size and restores the modification time
still shows. What could hide an edit is a clock tick: a file written again within the same
tick as the status was taken. So a file changed less than `RACY_SECONDS` before its status
was taken is not remembered (git calls these entries "racily clean"), and is hashed again
next time. (A network file system that caches file status shows an edit made on another
machine only once that cache expires, as it does to make and git. And a file system image
whose files carry fixed times, swapped for another one mounted on the same device number,
can show a changed file with an unchanged status: rebuild with `--no-cache` then.)
"""

from __future__ import annotations

import contextlib
import itertools
import os
from pathlib import Path

from etl.sealed import read_sealed, write_sealed

RACY_SECONDS = 2
# Statuses kept in all: this build's, then earlier builds' (the dumps of other raw folders
# built into the same store), the oldest dropped first; about 150 bytes each. A status
# matches another file only if that file has the same device and inode numbers, size and
# times to the nanosecond (see the module docstring for the one way that happens), so an
# old one mostly costs its place.
MAX_REMEMBERED = 50_000
_VERSION = 2  # 2: sealed (etl.sealed)

FileStatus = tuple[int, int, int, int, int]  # device, inode, size, mtime and ctime in ns


def file_status(path: Path) -> FileStatus | None:
    """The status a remembered hash is checked against (that of a symlink's target)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class DigestMemo:
    """Hashes of files by status, kept in the record store's folder: those of this build's
    dumps, then of earlier builds' (up to `MAX_REMEMBERED` in all), so that building
    another raw folder in between does not cost reading this one again. A status names one
    file (device and inode), whatever path leads to it: a hard link or a symlink to a dump
    is recognised too."""

    def __init__(self, store_dir: Path) -> None:
        self.path = store_dir / "digests.pkl"
        self._known: dict[FileStatus, str] = {}
        self._seen: dict[FileStatus, str] = {}
        # A missing or damaged memo only costs reading the dumps again.
        remembered = read_sealed(self.path)
        if isinstance(remembered, tuple) and len(remembered) == 2:
            version, known = remembered
            if version == _VERSION and isinstance(known, dict):
                self._known = known

    def digest(self, status: FileStatus | None) -> str | None:
        """The remembered hash of the file that has this status, if any."""
        return None if status is None else self._known.get(status)

    def remember(self, status: FileStatus | None, sha256: str, taken_ns: int) -> None:
        """Keep a file's hash for the next build, unless the file changed too recently
        before `taken_ns` (when its status was taken, before it was hashed) to be sure."""
        if status is None or not sha256:
            return
        changed_ns = max(status[3], status[4])
        if taken_ns - changed_ns > RACY_SECONDS * 1_000_000_000:
            self._seen[status] = sha256

    def save(self) -> None:
        """Write what this build remembered, and what earlier builds did, atomically. A
        memo that cannot be written only costs the next build some reading."""
        kept = {s: d for s, d in self._known.items() if s not in self._seen} | self._seen
        if len(kept) > MAX_REMEMBERED:  # the oldest go first (dicts keep insertion order)
            kept = dict(itertools.islice(kept.items(), len(kept) - MAX_REMEMBERED, None))
        with contextlib.suppress(OSError):
            write_sealed(self.path, (_VERSION, kept))

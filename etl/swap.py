"""A folder replaced whole, safely: build's `--out` and publish's `--stage` both go through here.

Beside a folder NAME, and only while a run is at work or after one was killed:

    .NAME.lock       the lock (flock), held for the whole run: a second run on NAME fails at
                     once. Runs that only read NAME (publishes of the tables, readers putting
                     a parked NAME back) hold it shared, together. It locks NAME alone (two
                     folders in one parent do not wait on each other) and is left in place:
                     removing it would let a run still holding the removed file and one
                     locking a new file both go on.
    .NAME.tmp-PID    the new content, written there, then swapped in by two renames: NAME is
                     parked as `.NAME.old-PID` and the new folder takes its name, Ctrl-C held
                     back between them. The parked folder is then renamed to the free
                     `.NAME.tmp-PID` and removed: a `.old-` folder is always a whole former
                     NAME, a `.tmp-` one always disposable.

A run killed at any point thus leaves the old NAME or the new one, never a mix, or (between
the two renames) no NAME and the old one parked. The next run recovers first, holding the
lock: if NAME is missing, the newest parked folder is renamed back; then the other leftovers
are removed, if they hold nothing but what NAME may hold (a user's folder that merely has such
a name is kept). Readers put a parked folder back too, and remove nothing.

Which files NAME may hold stays with each command; `refusal` words why a folder must not be
replaced, the same for both. Otherwise this module raises OSError, as met, and `FolderBusy`,
and each command says what they mean for it.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import os
import re
import shutil
from collections.abc import Collection, Iterator
from pathlib import Path, PurePosixPath

from etl.interrupts import pause_point, sigint_deferred

_TMP = "tmp"
_OLD = "old"
_SHOWN_NAMES = 5


class FolderBusy(Exception):
    """Another run holds the folder's lock."""


class Refused(Exception):
    """The folder must not be replaced whole; the message (`refusal`'s) says why."""


def _absolute(folder: Path) -> Path:
    """`folder` with a real name and parent: `.` has neither (its lock would be `./..lock`)."""
    return Path(os.path.abspath(folder))


def _beside(folder: Path, kind: str) -> Path:
    """This process's `.NAME.<kind>-PID`: unique among the runs alive, the same across a run."""
    folder = _absolute(folder)
    return folder.parent / f".{folder.name}.{kind}-{os.getpid()}"


def _leftovers(folder: Path, kind: str) -> list[Path]:
    """The `.NAME.<kind>-PID` folders beside `folder`, by name (a symbolic link is never one)."""
    folder = _absolute(folder)
    prefix = f".{folder.name}.{kind}-"
    name = re.compile(re.escape(prefix) + "[0-9]+")
    return sorted(
        path
        for path in folder.parent.glob(glob.escape(prefix) + "*")
        if name.fullmatch(path.name) and path.is_dir() and not path.is_symlink()
    )


@contextlib.contextmanager
def lock(folder: Path, *, shared: bool = False) -> Iterator[None]:
    """Hold `folder`'s lock for the block, or raise FolderBusy at once; makes the parent folder.

    A run that replaces the folder holds it alone; `shared`, it is held by runs that only read
    the folder (publishes reading the tables), together, keeping out the runs that replace it.
    Unlocked explicitly, not by closing: a process forked meanwhile shares the open file.
    """
    folder = _absolute(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".{folder.name}.lock", "a+") as handle:
        try:
            fcntl.flock(handle, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FolderBusy(str(folder)) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _put_back(folder: Path) -> None:
    """If `folder` is missing, rename back the newest parked one.

    Newest by the inode's change time, which the rename that parked it set, and which nothing
    sets back (`touch` sets the other times); the PID in the name says nothing of order, pids
    being reused. A parked folder is never changed in place, so its change time stays that.
    """
    parked = _leftovers(folder, _OLD)
    if parked and not os.path.lexists(folder):
        max(parked, key=lambda path: (path.lstat().st_ctime_ns, path.name)).rename(folder)


def recover(folder: Path, files: Collection[str]) -> None:
    """Undo what killed runs left beside `folder` (see the module docstring); hold the lock.

    `files` is what `folder` may hold (as for `_foreign_entries`): a leftover holding anything
    else is kept. Raises OSError when a parked folder cannot be put back.
    """
    _put_back(folder)
    spare, parked = _beside(folder, _TMP), _leftovers(folder, _OLD)
    for stale in (*_leftovers(folder, _TMP), *parked):
        with contextlib.suppress(OSError):  # what cannot be removed is tried again next run
            if not _foreign_entries(stale, files):
                # A parked folder is renamed first: a kill while removing leaves a `.tmp-` one.
                shutil.rmtree(stale.rename(spare) if stale in parked else stale)


def recover_for_reading(folder: Path) -> None:
    """Before reading `folder`: put back what a run killed between its two renames left parked.

    Only when `folder` is missing and a parked one exists, and only if no run that replaces
    it holds the lock (it recovers by itself); readers hold it shared, together. Otherwise
    reading goes on as it is. The other leftovers are the next run's to remove.
    """
    if os.path.lexists(folder) or not _leftovers(folder, _OLD):
        return
    # Shared: readers may put it back together (one rename: the others' fail, as they may).
    with contextlib.suppress(FolderBusy, OSError), lock(folder, shared=True):
        _put_back(folder)


def new_staging_dir(folder: Path) -> Path:
    """An empty `.NAME.tmp-PID` to write the new content into (after `recover`, holding the
    lock). Raises OSError.

    A `.tmp-` folder of this PID that `recover` kept (left by an earlier process of the same
    PID, and holding other files) makes this fail, rather than be deleted.
    """
    staging = _beside(folder, _TMP)
    staging.mkdir()
    return staging


@contextlib.contextmanager
def replaced(folder: Path, files: Collection[str], option: str, writer: str) -> Iterator[Path]:
    """Replace `folder` whole by what the block writes into the empty folder it is given.

    Holding the lock, after what killed runs left is recovered and the folder checked
    (`refusal`, worded with `option` and `writer`); swapped in when the block ends, removed
    if the block or the swap fails (a full disk, Ctrl-C). Raises FolderBusy, Refused, OSError.
    """
    with lock(folder):
        recover(folder, files)
        problem = refusal(folder, files, option, writer)
        if problem is not None:
            raise Refused(problem)
        staging = new_staging_dir(folder)
        try:
            yield staging
            swap_in(staging, folder)
        finally:  # after the swap the name is free, or holds the old folder on its way out
            shutil.rmtree(staging, ignore_errors=True)


def swap_in(staging: Path, folder: Path) -> None:
    """Replace `folder` by `staging` with two renames (see the module docstring); hold the lock,
    and check first that `folder` holds nothing foreign (`_foreign_entries`).

    Ctrl-C is held back from the first rename to the removal of the old folder. On an OSError
    `folder` is as it was (or, should putting it back fail too, parked for `recover`), and
    `staging` is left to the caller.
    """
    folder, parked = _absolute(folder), _beside(folder, _OLD)
    with sigint_deferred():
        had_folder = os.path.lexists(folder)
        if had_folder:
            folder.rename(parked)
            pause_point("swap")
        try:
            staging.rename(folder)
        except BaseException:
            if had_folder and not os.path.lexists(folder):
                with contextlib.suppress(OSError):  # else the next run puts it back
                    parked.rename(folder)
            raise
        if had_folder:
            with contextlib.suppress(OSError):  # else the next run removes it
                shutil.rmtree(parked.rename(staging))


def refusal(folder: Path, files: Collection[str], option: str, writer: str) -> str | None:
    """Why `folder` (given as `option`, written by `writer`) must not be replaced whole, in
    one line, or None when it may be: it is missing, or a folder holding only `files`.

    The swap deletes whatever the folder holds, so anything else in it (a raw folder given
    by mistake, notes, a home folder), a file, or a symbolic link (its siblings would get the
    temporary folders) is refused before anything changes; so is the current folder or one
    holding it: swapped, it would leave the user's shell, and the run, in a deleted folder.
    """
    if folder.is_symlink():
        return f"{option} {folder} is a symbolic link; give the folder itself; nothing was changed"
    try:
        here = Path.cwd().resolve()
    except OSError:  # the current folder was deleted: it holds nothing to refuse
        here = None
    if here is not None and folder.resolve() in (here, *here.parents):
        return (
            f"{option} {folder} is the current folder or holds it; give a folder of its own; "
            "nothing was changed"
        )
    if not folder.exists():
        return None
    if not folder.is_dir():
        return f"{option} {folder} is a file, not a folder; nothing was changed"
    try:
        foreign = _foreign_entries(folder, files)
    except OSError as error:
        return f"cannot read {option} {folder}: {error.strerror or error}"
    if not foreign:
        return None
    return (
        f"refusing to replace {option} {folder}: it holds {_listing(foreign)}, which {writer} "
        "never writes and replacing the folder would delete; nothing was changed: give "
        f"{option} a new or empty folder, or one {writer} wrote"
    )


def _foreign_entries(folder: Path, files: Collection[str]) -> list[str]:
    """What `folder` holds besides `files` (paths relative to it), sorted and relative.

    A folder replaced whole may hold only what its owner writes. Only the folders `files` sit
    in are looked into; anything else (another name, a symbolic link, a folder where a file
    belongs) is foreign as a whole. Raises OSError.
    """
    folders = {
        parent.as_posix()
        for file in files
        for parent in PurePosixPath(file).parents
        if parent != PurePosixPath(".")
    }
    foreign: list[str] = []
    pending = [folder]
    while pending:
        current = pending.pop()
        for entry in current.iterdir():
            name = entry.relative_to(folder).as_posix()
            if entry.is_symlink():
                foreign.append(name)
            elif name in folders and entry.is_dir():
                pending.append(entry)
            elif name not in files or not entry.is_file():
                foreign.append(name)
    return sorted(foreign)


def _listing(names: list[str]) -> str:
    """A few names for a one-line message: `a, b, c, d, e and 3 more`."""
    shown = ", ".join(names[:_SHOWN_NAMES])
    more = len(names) - _SHOWN_NAMES
    return f"{shown} and {more} more" if more > 0 else shown

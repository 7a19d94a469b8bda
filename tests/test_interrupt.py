"""Interrupted runs: `papers-etl build` killed (SIGKILL) at each stage leaves the last good
tables readable and byte-identical, and the next run cleans up and succeeds. Likewise an
output folder that cannot be written (read-only, full disk): a clear error, exit code 3,
the old tables as they were.

The build is paused deterministically with the test-only hook `PAPERS_ETL_PAUSE_AT=<stage>`
(etl/write.py; `swap` is between etl/swap.py's two renames): the process stops itself
(SIGSTOP) on reaching the stage, the test sees it stopped (waitpid WUNTRACED), looks at the
disk, then kills it or lets it go on (SIGCONT).
Tests run as root here and in CI, where chmod stops no write: the real read-only test is
skipped then, and the errors (EACCES, EROFS, ENOSPC) are simulated where the writer meets them.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from etl import build, store, write
from etl.cli import app
from etl.interrupts import PAUSE_ENV
from etl.pipeline import TABLE_FILES
from etl.schemas import TABLES
from etl.swap import recover, recover_for_reading
from tests.conftest import COMPACT_SEED, PROJECT_ROOT, SEARCH_SEED, load_bench

STAGES = ["parse", *(f"write:{spec.name}" for spec in TABLES), "swap"]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def siblings(out: Path) -> list[str]:
    """What the build keeps beside the output folder (staging, parked, lock)."""
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}"))


def start_build(
    raw: Path, out: Path, pause_at: str | None = None, *, own_group: bool = False
) -> subprocess.Popen:
    env = {key: value for key, value in os.environ.items() if key != PAUSE_ENV}
    if pause_at is not None:
        env[PAUSE_ENV] = pause_at
    command = [sys.executable, "-m", "etl", "build", "--raw", str(raw), "--out", str(out)]
    return subprocess.Popen(
        [*command, "--no-validate", "--no-cache"],
        cwd=PROJECT_ROOT,
        env={**env, "COLUMNS": "300"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=own_group,  # a process group of its own, as a terminal's job
    )


def wait_until_paused(process: subprocess.Popen, timeout: float = 120) -> None:
    """Block until the build has stopped itself at its pause point."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid, status = os.waitpid(process.pid, os.WUNTRACED | os.WNOHANG)
        if pid and os.WIFSTOPPED(status):
            return
        if pid:  # it ended without pausing: show why
            raise AssertionError(f"build ended before its pause point: {process.stderr.read()}")
        time.sleep(0.02)
    process.kill()
    raise AssertionError("build never reached its pause point")


def finish(process: subprocess.Popen, timeout: float = 120) -> tuple[int, str]:
    """Let a paused build go on and return (exit code, stderr)."""
    process.send_signal(signal.SIGCONT)
    _, stderr = process.communicate(timeout=timeout)
    return process.returncode, stderr


def kill(process: subprocess.Popen) -> None:
    process.kill()  # SIGKILL: no handler, no cleanup, also ends a stopped process
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Two raw folders (old: one seed; new: both) and the tables each builds."""
    base = tmp_path_factory.mktemp("interrupt")
    old_raw, new_raw = base / "raw-old", base / "raw-new"
    old_raw.mkdir()
    new_raw.mkdir()
    shutil.copy(SEARCH_SEED, old_raw / SEARCH_SEED.name)
    for seed in (SEARCH_SEED, COMPACT_SEED):
        shutil.copy(seed, new_raw / seed.name)
    for name, raw in (("old", old_raw), ("new", new_raw)):
        assert build(raw, base / name, validate=False).exit_code == 0
    old, new = snapshot(base / "old"), snapshot(base / "new")
    assert sorted(old) == sorted(spec.file_name for spec in TABLES)
    assert old != new
    return {"old_raw": old_raw, "new_raw": new_raw, "old": old, "new": new, "base": base}


def last_good(inputs: dict, tmp_path: Path) -> Path:
    out = tmp_path / "out"
    shutil.copytree(inputs["base"] / "old", out)
    return out


def assert_readable(folder: Path) -> None:
    for spec in TABLES:
        assert pq.read_table(folder / spec.file_name).schema.names == spec.schema.names


@pytest.mark.parametrize("stage", STAGES)
def test_killed_build_leaves_the_last_good_tables_and_the_next_run_succeeds(
    stage, inputs, tmp_path
):
    out = last_good(inputs, tmp_path)
    process = start_build(inputs["new_raw"], out, pause_at=stage)
    try:
        wait_until_paused(process)
        staging = tmp_path / f".out.tmp-{process.pid}"
        parked = tmp_path / f".out.old-{process.pid}"
        if stage.startswith("write:"):  # killed with some tables written, not all
            written = sorted(p.name for p in staging.iterdir() if not p.name.startswith("."))
            # The papers are written last: their abstracts are gathered meanwhile.
            names = [spec.name for spec in TABLES if spec.name != "papers"] + ["papers"]
            done = names[: names.index(stage.removeprefix("write:")) + 1]
            assert written == sorted(f"{name}.parquet" for name in done)
    finally:
        kill(process)

    if stage == "swap":  # between the two renames: the old folder is parked whole
        assert not out.exists()
        assert snapshot(parked) == inputs["old"]
        assert staging.is_dir()
        recover(out, TABLE_FILES)  # what the next run does first
    assert snapshot(out) == inputs["old"]
    assert_readable(out)

    outcome = build(inputs["new_raw"], out, validate=False)
    assert outcome.exit_code == 0, outcome.message
    assert snapshot(out) == inputs["new"]
    assert siblings(out) == [".out.lock"]


def test_killed_run_leftovers_are_cleaned_by_the_next_cli_run(inputs, tmp_path):
    out = last_good(inputs, tmp_path)
    process = start_build(inputs["new_raw"], out, pause_at="swap")
    wait_until_paused(process)
    kill(process)
    leftovers = [".out.lock", f".out.old-{process.pid}", f".out.tmp-{process.pid}"]
    assert siblings(out) == leftovers and not out.exists()
    rerun = start_build(inputs["new_raw"], out)
    _, stderr = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, stderr
    assert snapshot(out) == inputs["new"]
    assert siblings(out) == [".out.lock"]


@pytest.mark.parametrize("command", ["validate", "query"])
def test_readers_put_back_tables_parked_by_a_killed_swap(command, inputs, tmp_path):
    """`validate` and `query` after a build killed between its two renames read the old
    tables (put back), not a missing folder; the staging folder is left to the next build."""
    out = last_good(inputs, tmp_path)
    process = start_build(inputs["new_raw"], out, pause_at="swap")
    wait_until_paused(process)
    kill(process)
    assert not out.exists()
    args = {
        "validate": ["validate", "--data", str(out)],
        "query": [
            "query",
            "SELECT count(*) AS n FROM papers",
            "--data",
            str(out),
            "--format",
            "csv",
        ],
    }[command]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert snapshot(out) == inputs["old"]
    if command == "query":
        assert result.output.split() == ["n", "45"]


def test_readers_leave_a_running_build_alone(inputs, tmp_path):
    """While a build holds the lock, a reader does not touch what it has parked."""
    out = last_good(inputs, tmp_path)
    process = start_build(inputs["new_raw"], out, pause_at="swap")
    try:
        wait_until_paused(process)
        recover_for_reading(out)
        assert not out.exists()
        assert snapshot(tmp_path / f".out.old-{process.pid}") == inputs["old"]
    except BaseException:
        kill(process)
        raise
    assert finish(process)[0] == 0
    assert snapshot(out) == inputs["new"]


def test_a_paused_build_goes_on_when_continued(inputs, tmp_path):
    out = last_good(inputs, tmp_path)
    process = start_build(inputs["new_raw"], out, pause_at="write:papers")
    wait_until_paused(process)
    assert snapshot(out) == inputs["old"]  # nothing visible while it writes
    code, stderr = finish(process)
    assert code == 0, stderr
    assert f"tables written to {out}" in stderr
    assert snapshot(out) == inputs["new"]
    assert siblings(out) == [".out.lock"]


# -- an output folder that cannot be written: read-only, or a full disk ----------------


def fail_with(code: int):
    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    return fail


def assert_refused_cleanly(outcome, out: Path, inputs: dict, message: str) -> None:
    assert outcome.exit_code == 3
    assert outcome.message == message
    assert not outcome.summary.published
    assert snapshot(out) == inputs["old"]
    assert siblings(out) == [".out.lock"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through chmod (see the simulations)")
def test_read_only_parent_for_real(inputs, tmp_path):
    out = last_good(inputs, tmp_path / "parent")
    (out.parent / ".out.lock").touch()
    out.parent.chmod(0o555)
    try:
        outcome = build(inputs["new_raw"], out, validate=False)
    finally:
        out.parent.chmod(0o755)
    assert_refused_cleanly(outcome, out, inputs, f"cannot write to {out.parent}: Permission denied")


def test_immutable_parent_for_real_even_as_root(inputs, tmp_path):
    """`chattr +i` stops root too; skipped where the file system or capabilities lack it."""
    out = last_good(inputs, tmp_path / "parent")
    (out.parent / ".out.lock").touch()
    chattr = shutil.which("chattr")
    if chattr is None:
        pytest.skip("no chattr")
    if subprocess.run([chattr, "+i", str(out.parent)], capture_output=True).returncode:
        pytest.skip("chattr +i not permitted here")
    try:
        outcome = build(inputs["new_raw"], out, validate=False)
    finally:
        subprocess.run([chattr, "-i", str(out.parent)], check=True)
    assert_refused_cleanly(
        outcome, out, inputs, f"cannot write to {out.parent}: Operation not permitted"
    )


def test_read_only_parent_simulated_at_the_lock(inputs, tmp_path, monkeypatch):
    out = last_good(inputs, tmp_path)
    real_open = open

    def no_lock(path, *args, **kwargs):
        if str(path).endswith(".lock"):
            raise OSError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("etl.swap.open", no_lock, raising=False)
    outcome = build(inputs["new_raw"], out, validate=False)
    assert outcome.exit_code == 3
    assert outcome.message == f"cannot write to {tmp_path}: Permission denied"
    assert snapshot(out) == inputs["old"]
    assert siblings(out) == []


@pytest.mark.parametrize(
    ("code", "reason"),
    [(errno.EACCES, "Permission denied"), (errno.ENOSPC, "No space left on device")],
)
def test_staging_folder_cannot_be_made(code, reason, inputs, tmp_path, monkeypatch):
    out = last_good(inputs, tmp_path)
    real_mkdir = Path.mkdir

    def mkdir(self, *args, **kwargs):
        if ".out.tmp-" in self.name:
            fail_with(code)()
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    outcome = build(inputs["new_raw"], out, validate=False)
    assert_refused_cleanly(outcome, out, inputs, f"cannot write to {tmp_path}: {reason}")


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (errno.ENOSPC, "the disk is full"),
        (errno.EACCES, "Permission denied"),
        (errno.EROFS, "Read-only file system"),
    ],
)
def test_disk_full_or_read_only_in_the_middle_of_a_table(
    code, reason, inputs, tmp_path, monkeypatch
):
    out = last_good(inputs, tmp_path)
    real_write = write.write_parquet
    written: list[str] = []

    def write_until_full(table, path):
        if len(written) == 2:  # the third table: half a file, then the error
            path.write_bytes(b"PAR1" + b"\0" * 100)
            fail_with(code)()
        real_write(table, path)
        written.append(path.name)

    monkeypatch.setattr(write, "write_parquet", write_until_full)
    outcome = build(inputs["new_raw"], out, validate=False)
    assert_refused_cleanly(outcome, out, inputs, f"cannot write tables to {tmp_path}: {reason}")


def test_disk_full_under_the_record_store(inputs, tmp_path, monkeypatch):
    """The cache's disk fills while parsed records are written: a clear refusal, the last
    good tables kept, and nothing half-written left in the cache."""
    out = last_good(inputs, tmp_path)
    cache = tmp_path / "cache"
    real_write = os.write
    written = {"bytes": 0}

    def write_until_full(fd, data):  # records files are written through os.write
        if written["bytes"] > 10_000:
            fail_with(errno.ENOSPC)()
        count = real_write(fd, data)
        written["bytes"] += count
        return count

    monkeypatch.setattr(store.os, "write", write_until_full)
    outcome = build(inputs["new_raw"], out, validate=False, cache_dir=cache)
    monkeypatch.undo()
    assert_refused_cleanly(
        outcome, out, inputs, f"cannot write parsed records to {cache}: No space left on device"
    )
    assert written["bytes"] > 10_000  # the failure came mid-file
    assert sorted(p.name for p in cache.iterdir()) == []


def test_disk_full_when_flushing(inputs, tmp_path, monkeypatch):
    out = last_good(inputs, tmp_path)
    monkeypatch.setattr(write.os, "fsync", fail_with(errno.ENOSPC))
    outcome = build(inputs["new_raw"], out, validate=False)
    assert_refused_cleanly(
        outcome, out, inputs, f"cannot write tables to {tmp_path}: the disk is full"
    )


@pytest.mark.parametrize("failing", ["park", "move in"])
def test_a_rename_refused_during_the_swap(failing, inputs, tmp_path, monkeypatch):
    out = last_good(inputs, tmp_path)
    real_rename = Path.rename

    def rename(self, target):
        moving_in = ".out.tmp-" in self.name
        if (failing == "move in") == moving_in and ".out.old-" not in self.name:
            fail_with(errno.EACCES)()
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", rename)
    outcome = build(inputs["new_raw"], out, validate=False)
    assert_refused_cleanly(outcome, out, inputs, f"cannot replace {out}: Permission denied")


def test_read_only_parent_after_a_killed_swap_is_a_clear_error(inputs, tmp_path, monkeypatch):
    out = last_good(inputs, tmp_path)
    process = start_build(inputs["new_raw"], out, pause_at="swap")
    wait_until_paused(process)
    kill(process)
    monkeypatch.setattr(Path, "rename", fail_with(errno.EROFS))
    outcome = build(inputs["new_raw"], out, validate=False)
    assert outcome.exit_code == 3
    assert outcome.message == (
        f"cannot put back the tables parked by a killed build in {tmp_path}: Read-only file system"
    )
    assert snapshot(tmp_path / f".out.old-{process.pid}") == inputs["old"]


def test_cli_says_the_disk_is_full_and_exits_3(inputs, tmp_path, monkeypatch):
    out = last_good(inputs, tmp_path)
    monkeypatch.setattr(write, "write_parquet", fail_with(errno.ENOSPC))
    monkeypatch.setenv("COLUMNS", "300")
    result = CliRunner().invoke(
        app,
        [
            "build",
            "--raw",
            str(inputs["new_raw"]),
            "--out",
            str(out),
            "--no-validate",
            "--no-cache",
        ],
    )
    assert result.exit_code == 3
    assert f"error: cannot write tables to {tmp_path}: the disk is full" in result.output
    assert snapshot(out) == inputs["old"]


# -- Ctrl-C: SIGINT to the build's whole process group, as a terminal sends it -------------


@pytest.fixture(scope="module")
def pile(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A raw folder big enough for parse workers (over 4 MB), and its tables."""
    base = tmp_path_factory.mktemp("ctrl-c")
    load_bench("generate").generate(base / "raw", 6_000_000, seed=4)
    assert build(base / "raw", base / "tables", validate=False).exit_code == 0
    return {"raw": base / "raw", "tables": snapshot(base / "tables"), "base": base}


@pytest.mark.parametrize("stage", ["parse", "write:papers", "swap"])
def test_ctrl_c_stops_the_build_in_a_second_with_one_line_and_the_tables_kept(
    stage, pile, inputs, tmp_path
):
    out = last_good(inputs, tmp_path)
    process = start_build(pile["raw"], out, pause_at=stage, own_group=True)
    try:
        wait_until_paused(process)
        os.killpg(process.pid, signal.SIGINT)  # the workers and the fork server get it too
        stopped_at = time.monotonic()
        code, stderr = finish(process)
    except BaseException:
        os.killpg(process.pid, signal.SIGKILL)
        raise
    assert time.monotonic() - stopped_at < 30  # not the rest of the parse
    if stage == "swap":  # held back until both renames are done: the new tables, whole
        assert (code, snapshot(out)) == (130, pile["tables"])
    else:
        assert (code, snapshot(out)) == (130, inputs["old"])
    assert stderr.strip() == f"interrupted: {out} keeps its last complete tables"
    assert siblings(out) == [".out.lock"]  # no staging folder left behind

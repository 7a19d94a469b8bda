"""Interrupted runs: `papers-etl build` killed (SIGKILL) at each stage leaves the last good
tables readable and byte-identical, and the next run cleans up and succeeds.

The build is paused deterministically with the test-only hook `PAPERS_ETL_PAUSE_AT=<stage>`
(etl/write.py): the process stops itself (SIGSTOP) on reaching the stage, the test sees it
stopped (waitpid WUNTRACED), looks at the disk, then kills it or lets it go on (SIGCONT).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from etl import build
from etl.schemas import TABLES
from etl.write import PAUSE_ENV, recover
from tests.conftest import COMPACT_SEED, PROJECT_ROOT, SEARCH_SEED

STAGES = ["parse", *(f"write:{spec.name}" for spec in TABLES), "swap"]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def siblings(out: Path) -> list[str]:
    """What the build keeps beside the output folder (staging, parked, lock)."""
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}"))


def start_build(raw: Path, out: Path, pause_at: str | None = None) -> subprocess.Popen:
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
            written = sorted(p.name for p in staging.iterdir())
            names = [spec.name for spec in TABLES]
            done = names[: names.index(stage.removeprefix("write:")) + 1]
            assert written == sorted(f"{name}.parquet" for name in done)
    finally:
        kill(process)

    if stage == "swap":  # between the two renames: the old folder is parked whole
        assert not out.exists()
        assert snapshot(parked) == inputs["old"]
        assert staging.is_dir()
        recover(out)  # what the next run does first
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

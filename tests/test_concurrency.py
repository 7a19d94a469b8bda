"""Concurrent runs on one output folder: a second build fails at once with a clear message
(exit code 3) while the first holds the lock, and the tables are never a mix of both.

Real processes; the first is held at a known point with the pause hook (see
tests/test_interrupt.py).
"""

from __future__ import annotations

import pytest

from tests.test_interrupt import (
    finish,
    inputs,  # noqa: F401 - fixture
    kill,
    last_good,
    siblings,
    snapshot,
    start_build,
    wait_until_paused,
)


@pytest.mark.parametrize("pause_at", ["parse", "write:papers"])
def test_second_build_fails_at_once_while_the_first_holds_the_lock(pause_at, inputs, tmp_path):  # noqa: F811
    """The lock is taken when a build starts: a second build fails at once (it does not
    parse everything first), writes nothing, and the first one's tables come out whole."""
    out = last_good(inputs, tmp_path)
    first = start_build(inputs["new_raw"], out, pause_at=pause_at)
    try:
        wait_until_paused(first)  # it holds the lock (parsing, or half its tables written)
        second = start_build(inputs["old_raw"], out)
        _, stderr = second.communicate(timeout=120)
        assert second.returncode == 3
        assert (
            f"error: another build is writing to {out}, or a publish reading it, right now; try "
            "again when it ends" in stderr
        )
        assert snapshot(out) == inputs["old"]
        assert not (tmp_path / f".out.tmp-{second.pid}").exists()  # it wrote nothing
        code, stderr = finish(first)
    finally:
        if first.returncode is None:
            kill(first)
    assert code == 0, stderr
    assert snapshot(out) == inputs["new"]
    assert siblings(out) == [".out.lock"]


@pytest.mark.parametrize("attempt", range(3))
def test_two_builds_started_together_never_mix_their_tables(attempt, inputs, tmp_path):  # noqa: F811
    out = last_good(inputs, tmp_path)
    builds = [start_build(inputs["new_raw"], out), start_build(inputs["old_raw"], out)]
    codes, errors = [], []
    for process in builds:
        _, stderr = process.communicate(timeout=120)
        codes.append(process.returncode)
        errors.append(stderr)
    assert sorted(codes) in ([0, 0], [0, 3]), errors
    for code, stderr in zip(codes, errors, strict=True):
        if code == 3:
            assert "another build is writing to" in stderr
    assert snapshot(out) in (inputs["new"], inputs["old"])
    if codes == [0, 3]:
        assert snapshot(out) == inputs["new"]
    assert siblings(out) == [".out.lock"]

"""bench/run.py's repeated runs: the median run is reported, with every run's seconds."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import load_bench

run = load_bench("run")


def _run(seconds: float, rss: float, returncode: int = 0) -> object:
    return run.Step(
        "build cold",
        ["true"],
        returncode=returncode,
        seconds=seconds,
        max_rss_mib=rss,
        stage_seconds={"parse": seconds / 2},
    )


def test_the_median_run_is_reported_with_every_runs_seconds_and_the_highest_peak() -> None:
    runs = [_run(12.0, 800), _run(10.0, 850), _run(11.0, 790)]
    chosen = run.median_run(runs)
    assert chosen.seconds == 11.0 and chosen.stage_seconds == {"parse": 5.5}
    assert chosen.run_seconds == [12.0, 10.0, 11.0]
    assert chosen.max_rss_mib == 850


def test_of_two_runs_the_slower_is_reported() -> None:
    assert run.median_run([_run(10.0, 800), _run(11.0, 800)]).seconds == 11.0


def test_a_failed_run_is_the_result_whatever_the_others_did() -> None:
    failed = _run(1.0, 100, returncode=1)
    assert run.median_run([_run(10.0, 800), failed, _run(11.0, 800)]) is failed


def test_runs_are_repeated_with_the_hooks_and_stop_at_a_failure(tmp_path: Path) -> None:
    counter = tmp_path / "count"
    counter.write_text("")
    calls: list[str] = []
    step = run.Step("count", ["sh", "-c", f'echo x >> "{counter}"'])
    chosen = run.measure_repeated(
        step,
        tmp_path / "logs",
        3,
        before=lambda: calls.append("before"),
        after=lambda done: calls.append(f"after {done.returncode}"),
    )
    assert chosen.ok and len(chosen.run_seconds) == 3
    assert counter.read_text() == "x\n" * 3
    assert calls == ["before", "after 0"] * 3
    failing = run.Step("fail", ["sh", "-c", f'echo x >> "{counter}"; exit 3'])
    assert run.measure_repeated(failing, tmp_path / "logs", 3).returncode == 3
    assert counter.read_text() == "x\n" * 4  # not run again after failing

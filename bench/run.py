"""Benchmark: how fast, and in how much memory, the build turns N MB of dumps into tables.

For each size it generates (or reuses) a synthetic pile with bench/generate.py, then runs,
each in a fresh subprocess with wall time and peak RSS measured:

  cat          read every dump to /dev/null: the I/O floor (warm page cache)
  naive        bench/naive.py, the straightforward pure-Python reference
  build cold   papers-etl build --no-validate --no-cache: every dump parsed
  build warm   the same with the per-dump cache on: every dump from build/cache (the
               sampled run before it, or an untimed run with --no-tree-memory, fills
               the cache if needed)
  incremental  one new dump added to a folder holding the pile, after a build of that
               folder (untimed), cache on: only the new dump is parsed
  validate     papers-etl validate on the cold build's tables
  build validated  the default command (validation on, cache on): what a user's build
               takes, memory included

and checks each build's distinct paper and record counts against the pile's expected.json,
then grades its tables field by field against the generator's answer key
(bench/check_truth.py: same records, same grouping into papers, every field right).

    python bench/run.py [--sizes 10MB,100MB,1GB] [--work build/bench] [--skip-naive]
                        [--no-tree-memory] [--repeat N]

With `--repeat N` each step is timed N times and the run of median time reported (its stage
times too, every run's seconds in results.json, the highest peak RSS of the runs): the
machine's swings between runs, 10 % and more, are then seen, not reported as a figure. The
logs, and the tables graded, are the last run's (the build is deterministic). Steps of one
process (cat, naive, validate) are timed unsampled and get no tree figures, their peak RSS
being theirs; before --repeat they were timed with the sampler running.

Peak RSS is `ru_maxrss` from wait4 (the largest single process, workers included), plus two
sampled sums over the process tree: RSS (a page shared by several processes, such as the
libraries every worker maps, counted once per process) and PSS (each shared page split among
the processes sharing it: what the tree as a whole takes from the machine). Sampling PSS
every 0.1 s reads every process's page tables and costs time on 2 cores (3-5 s of a 23 s
build at 1 GB; every 0.5 s missed the peak by 170 MiB), so each build step runs once
sampled, for the tree figures, then unsampled (`--repeat` times), for the seconds, stage
times and the build's own peak RSS. `--no-tree-memory` skips the sampled runs.
Results also go to WORK/results.json, merged by size.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from generate import (  # bench/ is sys.path[0] as a script
    GENERATOR_VERSION,
    TRUTH_PAPERS,
    TRUTH_RECORDS,
    parse_size,
)

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = BENCH_DIR.parent
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
SUMMARY_ENV = "PAPERS_ETL_SUMMARY_JSON"
CACHE_DIR = PROJECT_ROOT / "build" / "cache"  # etl.config.CACHE_DIR
RACY_SECONDS = 2  # etl.digests.RACY_SECONDS


@dataclass
class Step:
    """One measured subprocess, as it appears in the table and results.json."""

    name: str
    command: list[str]
    returncode: int | None = None
    seconds: float | None = None
    megabytes: float | None = None  # input size the MB/s figure refers to
    max_rss_mib: float | None = None
    tree_rss_mib: float | None = None
    tree_pss_mib: float | None = None
    stage_seconds: dict[str, float] = field(default_factory=dict)
    summary: dict[str, object] = field(default_factory=dict)
    check: str = ""  # PASS / FAIL / ERROR / info
    note: str = ""
    run_seconds: list[float] = field(default_factory=list)  # every timed run, with --repeat

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def mb_per_s(self) -> float | None:
        if not self.ok or not self.seconds or self.megabytes is None:
            return None
        return self.megabytes / self.seconds


# --- measuring --------------------------------------------------------------------------


class TreeRssSampler(threading.Thread):
    """Samples the summed RSS and PSS of a process and its descendants (Linux /proc)."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.peak = 0
        self.peak_pss = 0
        self._halt = threading.Event()

    def _descendants(self) -> list[int]:
        pids, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            pids.append(pid)
            try:
                for task in os.listdir(f"/proc/{pid}/task"):
                    with open(f"/proc/{pid}/task/{task}/children") as handle:
                        todo.extend(int(p) for p in handle.read().split())
            except OSError:
                continue
        return pids

    def _sample(self) -> tuple[int, int]:
        """Summed RSS and PSS (bytes) of the tree now."""
        rss = pss = 0
        for pid in self._descendants():
            try:
                with open(f"/proc/{pid}/statm") as handle:
                    rss += int(handle.read().split()[1]) * PAGE_SIZE
                with open(f"/proc/{pid}/smaps_rollup") as handle:
                    for line in handle:
                        if line.startswith("Pss:"):
                            pss += int(line.split()[1]) * 1024
                            break
            except (OSError, IndexError, ValueError):
                continue
        return rss, pss

    def run(self) -> None:
        if not Path("/proc").is_dir():
            return
        while not self._halt.is_set():
            rss, pss = self._sample()
            self.peak, self.peak_pss = max(self.peak, rss), max(self.peak_pss, pss)
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join()


def measure(
    step: Step, log_dir: Path, env: dict[str, str] | None = None, sample: bool = True
) -> Step:
    """Run step.command in a fresh process; wall time, ru_maxrss via wait4 and, if `sample`,
    the sampled tree RSS and PSS."""
    log_dir.mkdir(parents=True, exist_ok=True)
    slug = step.name.replace(" ", "-")
    with open(log_dir / f"{slug}.out", "wb") as out, open(log_dir / f"{slug}.err", "wb") as err:
        started = time.perf_counter()
        try:
            proc = subprocess.Popen(step.command, stdout=out, stderr=err, env=env)
        except OSError as exc:
            step.returncode, step.note = 127, f"could not start: {exc}"
            return step
        sampler = TreeRssSampler(proc.pid)
        if sample:
            sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        step.seconds = time.perf_counter() - started
        if sample:
            sampler.stop()
    proc.returncode = step.returncode = os.waitstatus_to_exitcode(status)
    step.max_rss_mib = usage.ru_maxrss / 1024  # KiB on Linux
    if sample:
        step.tree_rss_mib = sampler.peak / 2**20 if sampler.peak else None
        step.tree_pss_mib = sampler.peak_pss / 2**20 if sampler.peak_pss else None
    if not step.ok:
        tail = (log_dir / f"{slug}.err").read_text(errors="replace").strip().splitlines()[-3:]
        step.note = f"exit {step.returncode}: " + " | ".join(tail)[-300:]
    return step


def median_run(runs: list[Step]) -> Step:
    """The run of median time (the slower middle one of an even number), with every run's
    seconds and the highest peak RSS among them: one slow run does not move the figure, and
    memory is not understated. A failed run is the result, whatever the others did."""
    failed = [run for run in runs if not run.ok]
    if failed:
        return failed[0]
    ordered = sorted(runs, key=lambda run: run.seconds or 0.0)
    chosen = ordered[len(ordered) // 2]
    chosen.run_seconds = [run.seconds or 0.0 for run in runs]
    peaks = [run.max_rss_mib for run in runs if run.max_rss_mib is not None]
    chosen.max_rss_mib = max(peaks) if peaks else None
    return chosen


def measure_repeated(
    step: Step, log_dir: Path, repeat: int, env: dict[str, str] | None = None,
    before: Callable[[], None] | None = None, after: Callable[[Step], None] | None = None,
) -> Step:
    """`measure` (unsampled) `repeat` times, `before` ahead of each run and `after` on each
    one's result: the median run (`median_run`)."""
    runs = []
    for _ in range(repeat):
        if before is not None:
            before()
        run = measure(dataclasses.replace(step), log_dir, env, sample=False)
        if after is not None:
            after(run)
        runs.append(run)
        if not run.ok:
            break
    return median_run(runs)


# --- the pile -----------------------------------------------------------------------------


def ensure_pile(size_dir: Path, size: int, seed: int) -> tuple[dict, Step]:
    """Generate the pile and its extra dump, unless a pile with the same args exists."""
    pile, extra = size_dir / "pile", size_dir / "extra"
    stamp = size_dir / "generation.json"
    step = Step("generate", [sys.executable, str(BENCH_DIR / "generate.py"), "--out", str(pile),
                             "--size", str(size), "--seed", str(seed), "--extra-dir", str(extra)])
    try:
        expected = json.loads((pile / "expected.json").read_text())
        cached = (expected.get("args") == {"size": size, "seed": seed}
                  and expected.get("generator_version") == GENERATOR_VERSION
                  and (extra / "expected.json").is_file() and stamp.is_file()
                  and all((folder / name).is_file() for folder in (pile, extra)
                          for name in (TRUTH_RECORDS, TRUTH_PAPERS)))
    except (OSError, ValueError):
        cached = False
    if cached:
        previous = json.loads(stamp.read_text())
        step = Step(**{**previous, "note": "cached pile (time of its generation)"})
    else:
        for path in (pile, extra):
            shutil.rmtree(path, ignore_errors=True)
        measure(step, size_dir / "logs")
        if not step.ok:
            raise SystemExit(f"generator failed: {step.note}")
        expected = json.loads((pile / "expected.json").read_text())
        step.megabytes = expected["bytes"] / 1e6
        stamp.write_text(json.dumps(asdict(step), indent=2))
    expected["extra"] = json.loads((extra / "expected.json").read_text())
    return expected, step


def incremental_raw(size_dir: Path) -> Path:
    """The pile, as hard links (no copy of a 1 GB pile), in a folder of its own: the one
    the new dump is added to (`with_new_dump`)."""
    pile, target = size_dir / "pile", size_dir / "incremental-raw"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for source in sorted(pile.glob("*.txt")):
        link(source, target / source.name)
    shutil.copy2(pile / "manifest.csv", target / "manifest.csv")
    # Linking changed every dump's status just now: let it age past the build's racy
    # window, as a user's dumps have, so that a build remembers their hashes.
    time.sleep(RACY_SECONDS + 0.5)
    return target


def link(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def with_new_dump(size_dir: Path, raw: Path, name: str, present: bool) -> Path:
    """Put the extra dump `name` (and its manifest row) into `raw`, or take it out; its
    path there."""
    new_dump = raw / name
    rows = (size_dir / "pile" / "manifest.csv").read_text().splitlines()
    new_dump.unlink(missing_ok=True)
    if present:
        link(size_dir / "extra" / name, new_dump)
        rows += (size_dir / "extra" / "manifest.csv").read_text().splitlines()[1:]
    (raw / "manifest.csv").write_text("\n".join(rows) + "\n")
    return new_dump


def forget_cached(dump: Path) -> None:
    """Drop the build's cache entries for the new dump, so the rebuild really parses it.

    Only this dump's entries (named by its SHA-256) are removed; a previous benchmark run
    would otherwise have cached it and the "incremental" rebuild would parse nothing.
    """
    sha = hashlib.sha256(dump.read_bytes()).hexdigest()
    for entry in CACHE_DIR.glob(f"{sha}*"):
        entry.unlink(missing_ok=True)


# --- the steps ----------------------------------------------------------------------------


def papers_etl() -> list[str]:
    for candidate in (PROJECT_ROOT / ".venv" / "bin" / "papers-etl",
                      Path(sys.executable).parent / "papers-etl"):
        if candidate.is_file():
            return [str(candidate)]
    found = shutil.which("papers-etl")
    return [found] if found else [sys.executable, "-m", "etl"]


def table_rows(folder: Path, table: str) -> int | None:
    try:
        import pyarrow.parquet as pq

        return int(pq.read_metadata(folder / f"{table}.parquet").num_rows)
    except Exception:  # missing table, no pyarrow: the count is simply unknown
        return None


def run_build(name: str, raw: Path, out: Path, size_dir: Path, megabytes: float,
              extra_args: list[str], expect_papers: int, expect_records: int,
              truth: list[Path], tree_memory: bool = True,
              before: Callable[[], None] | None = None, validate: bool = False,
              fill_cache: bool = False, repeat: int = 1) -> Step:
    """One build step: a sampled run for the tree's memory (if `tree_memory`), then
    `repeat` unsampled runs, the median of which is reported (its stage times too); `before`
    runs before each. `--no-validate` unless `validate`. With `fill_cache`, a run before
    them fills the per-dump cache (the sampled run did that, but not when there is none).
    The tables are then graded against the answer key of the piles in `truth` (untimed)."""
    summary_path = size_dir / "logs" / f"{name.replace(' ', '-')}.summary.json"
    env = {**os.environ, SUMMARY_ENV: str(summary_path), "GX_ANALYTICS_ENABLED": "false",
           "HF_HUB_OFFLINE": "1"}
    command = [*papers_etl(), "build", "--raw", str(raw), "--out", str(out),
               *([] if validate else ["--no-validate"]), *extra_args]
    if fill_cache and not tree_memory:
        subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=False)
    sampled = None
    if tree_memory:
        if before is not None:
            before()
        sampled = measure(Step(name, command), size_dir / "logs" / "sampled", env)

    def fresh_summary() -> None:
        if before is not None:
            before()
        summary_path.unlink(missing_ok=True)

    def read_summary(run: Step) -> None:
        if summary_path.is_file():
            run.summary = json.loads(summary_path.read_text())
            stages = run.summary.get("stage_seconds")
            run.stage_seconds = stages if isinstance(stages, dict) else {}

    step = measure_repeated(Step(name, command, megabytes=megabytes), size_dir / "logs",
                            repeat, env, before=fresh_summary, after=read_summary)
    if sampled is not None:
        step.tree_rss_mib, step.tree_pss_mib = sampled.tree_rss_mib, sampled.tree_pss_mib
    if not step.ok:
        step.check = "ERROR"
        return step
    papers = step.summary.get("papers", table_rows(out, "papers"))
    records = step.summary.get("records", table_rows(out, "sources"))
    graded = grade(out, truth)
    good = papers == expect_papers and records == expect_records and graded.startswith("all")
    step.check = "PASS" if good else "FAIL"
    step.note = (f"papers {papers} (expected {expect_papers}), "
                 f"records {records} (expected {expect_records}), answer key: {graded}")
    cached = step.summary.get("files_from_cache")
    if cached:
        step.note += f", {cached} of {step.summary.get('files')} files from cache"
    return step


def grade(tables: Path, truth: list[Path]) -> str:
    """bench/check_truth.py's verdict on the tables, in a few words."""
    run = subprocess.run([sys.executable, str(BENCH_DIR / "check_truth.py"), str(tables),
                          *map(str, truth)], capture_output=True, text=True, check=False)
    try:
        report = json.loads(run.stdout)
    except ValueError:
        last = (run.stderr.strip().splitlines() or ["no output"])[-1]
        return f"not graded ({last})"
    problems = report["problems"]
    if not problems:
        return f"all {report['records']:,} records and {report['papers']:,} papers right"
    return "WRONG " + ", ".join(f"{kind} x{found['count']}" for kind, found in problems.items())


def bench_size(label: str, work: Path, seed: int, skip_naive: bool, jobs: int | None,
               tree_memory: bool = True, repeat: int = 1) -> dict:
    size = parse_size(label)
    size_dir = work / label
    size_dir.mkdir(parents=True, exist_ok=True)
    logs, outs = size_dir / "logs", size_dir / "out"
    expected, generation = ensure_pile(size_dir, size, seed)
    pile = size_dir / "pile"
    megabytes = expected["bytes"] / 1e6
    dumps = sorted(str(p) for p in pile.glob("*.txt"))
    steps: list[Step] = [generation]

    cat = Step("cat", ["sh", "-c", 'cat -- "$@" > /dev/null', "sh", *dumps], megabytes=megabytes)
    cat = measure_repeated(cat, logs, repeat)
    cat.command = [*cat.command[:4], f"<{len(dumps)} dumps in {pile}>"]  # keep results small
    steps.append(cat)

    if not skip_naive:
        naive = Step("naive", [sys.executable, str(BENCH_DIR / "naive.py"), str(pile),
                               str(outs / "naive")], megabytes=megabytes)
        naive = measure_repeated(naive, logs, repeat)
        if naive.ok:
            try:
                got = json.loads((logs / "naive.out").read_text().strip().splitlines()[-1])
                want = expected["distinct_title_keys"]
                naive.note = (f"title keys {got['papers']} (expected {want}; revised titles "
                              f"count twice), records {got['records']}")
                naive.check = "info"
            except (ValueError, IndexError, KeyError):
                pass
        steps.append(naive)

    jobs_args = ["--jobs", str(jobs)] if jobs is not None else []
    papers, records = expected["distinct_papers"], expected["raw_records"]
    truth = [pile]
    cold = run_build("build cold", pile, outs / "build", size_dir, megabytes,
                     ["--no-cache", *jobs_args], papers, records, truth, tree_memory,
                     repeat=repeat)
    steps.append(cold)
    if cold.ok:
        steps.append(run_build("build warm", pile, outs / "build-cached", size_dir, megabytes,
                               jobs_args, papers, records, truth, tree_memory,
                               fill_cache=True, repeat=repeat))
        extra = expected["extra"]
        incr = incremental_raw(size_dir)
        incr_mb = megabytes + (size_dir / "extra" / extra["file"]).stat().st_size / 1e6

        def built_then_added() -> None:
            """A build of the folder as it was, then the new dump added to it."""
            with_new_dump(size_dir, incr, extra["file"], present=False)
            command = [*papers_etl(), "build", "--raw", str(incr), "--out",
                       str(outs / "incremental"), "--no-validate", *jobs_args]
            subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           check=False)
            forget_cached(with_new_dump(size_dir, incr, extra["file"], present=True))

        steps.append(run_build("incremental", incr, outs / "incremental", size_dir, incr_mb,
                               jobs_args, extra["distinct_papers_after"],
                               extra["raw_records_after"], [pile, size_dir / "extra"],
                               tree_memory, before=built_then_added, repeat=repeat))
        validate = Step("validate", [*papers_etl(), "validate", "--data", str(outs / "build")])
        validate = measure_repeated(validate, logs, repeat,
                                    {**os.environ, "GX_ANALYTICS_ENABLED": "false"})
        validate.check = "PASS" if validate.ok else "FAIL"
        steps.append(validate)
        steps.append(run_build("build validated", pile, outs / "build-validated", size_dir,
                               megabytes, jobs_args, papers, records, truth, tree_memory,
                               validate=True, repeat=repeat))

    return {
        "label": label,
        "bytes": expected["bytes"],
        "files": expected["files"],
        "raw_records": records,
        "distinct_papers": papers,
        "seed": seed,
        "steps": [asdict(s) | {"mb_per_s": s.mb_per_s} for s in steps],
        "_steps": steps,
    }


# --- reporting ----------------------------------------------------------------------------


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_table(result: dict) -> None:
    print(f"\n== {result['label']}: {result['bytes'] / 1e6:,.1f} MB in {result['files']} files, "
          f"{result['raw_records']:,} records, {result['distinct_papers']:,} distinct papers")
    print(
        f"{'step':<16}{'seconds':>9}{'MB/s':>9}{'RSS MiB':>9}{'tree MiB':>10}{'tree PSS':>10}"
        "  check / note"
    )
    for step in result["_steps"]:
        status = step.check or ("ok" if step.ok else "ERROR")
        if len(step.run_seconds) > 1:
            status = (f"{status} [median of {len(step.run_seconds)}: "
                      f"{min(step.run_seconds):.2f}-{max(step.run_seconds):.2f} s]")
        print(f"{step.name:<16}{_fmt(step.seconds, '.2f'):>9}{_fmt(step.mb_per_s, '.1f'):>9}"
              f"{_fmt(step.max_rss_mib, '.0f'):>9}{_fmt(step.tree_rss_mib, '.0f'):>10}"
              f"{_fmt(step.tree_pss_mib, '.0f'):>10}  "
              f"{status} {step.note}".rstrip())
        for stage, seconds in step.stage_seconds.items():
            print(f"  {stage:<14}{seconds:>9.2f}")


def write_results(work: Path, results: list[dict]) -> Path:
    path = work / "results.json"
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError):
        stored = {}
    sizes = stored.get("sizes", {}) if isinstance(stored, dict) else {}
    for result in results:
        sizes[result["label"]] = {k: v for k, v in result.items() if not k.startswith("_")}
        sizes[result["label"]]["measured_at"] = dt.datetime.now().isoformat(timespec="seconds")
    payload = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "sizes": sizes,
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10MB,100MB,1GB")
    parser.add_argument("--work", type=Path, default=PROJECT_ROOT / "build" / "bench")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--jobs", type=int, default=None, help="passed to papers-etl build")
    parser.add_argument("--no-tree-memory", action="store_true",
                        help="skip the sampled runs (no tree RSS/PSS; fewer build runs)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="timed runs of each step; the median is reported (and all runs "
                        "in results.json)")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    args.work.mkdir(parents=True, exist_ok=True)
    results = []
    for label in (s.strip() for s in args.sizes.split(",") if s.strip()):
        result = bench_size(label, args.work.resolve(), args.seed, args.skip_naive, args.jobs,
                            tree_memory=not args.no_tree_memory, repeat=args.repeat)
        print_table(result)
        results.append(result)
        write_results(args.work, results)
    path = write_results(args.work, results)
    print(f"\nresults: {path}")
    bad = [f"{r['label']} {s.name}" for r in results for s in r["_steps"]
           if s.check in ("FAIL", "ERROR") or not s.ok]
    if bad:
        print("FAILED: " + ", ".join(bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

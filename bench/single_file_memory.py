"""Peak memory of `papers-etl build` on ONE big dump file (default 1 GB).

A pile made by bench/generate.py is concatenated into a single dump (pages pasted one after
another, as a person saving many pages into one file would), then built in a fresh process:

    papers-etl build --raw DIR --out DIR --no-validate --no-cache --jobs 1

Peak RSS is `ru_maxrss` from wait4 on that process. It is compared with the size of the
tables written (the goal: a small multiple of the output) and of the input, next to the
RSS of a process that only imports the pipeline (the fixed cost of polars/pyarrow).

    python bench/single_file_memory.py [--size 1GB] [--seed 0] [--work build/single-file]
                                       [--max-output-multiple N]

The big dump is kept under WORK and reused by later runs with the same size and seed.
Results are printed and merged into WORK/results.json. Not a test: it takes minutes at 1 GB.

Measured (2 CPUs, Python 3.11, generator v2, 2026-11-23): a 954 MiB dump (1,138 pages,
744,556 records, 520,977 papers) first built in 88.6 s with a peak RSS of 7,855 MiB for
122 MiB of tables (64 x the tables); then, parsed page by page but read whole, 65-67 s and
5,169 MiB (42 x). Now that a big dump is read, parsed and stored a page at a time
(etl/stream.py) and the record store is taken from a window of batches at a time: 44.5 s and
927 MiB (7.6 x the tables, 0.97 x the input; import alone: 97 MiB; `/usr/bin/time -v` gave
the same 927 MiB). Parsing holds about 180 MiB; the peak is the deduplication of the key
columns, as for a pile of many small dumps. With generator v3 (2026-12-01): 954 MiB, 1,153
pages, 744,134 records, 521,926 papers: 51.2 s and 955 MiB (7.6 x the 125 MiB of tables,
1.00 x the input). Later that day, with dumps parsed in batches and a leaner dedupe, the
peak had moved to the papers write and grown to 1,045 MiB; gathering the abstracts while the
other tables are written, and pyarrow giving freed pages back after 100 ms, made it 57.7 s
and 944 MiB (7.5 x the tables, 0.99 x the input). Later still, on a machine then running
everything 20-30 % slower, 73.9 s and 937 MiB; with the pages of a big dump parsed 16 MiB at
a time instead of one by one, 44.0 s (parse 62.6 -> 32.6 s) and 892 MiB (7.1 x the tables,
0.93 x the input). 2026-12-02, with each row group's abstracts gathered from the store
instead of spilled to disk and back, and each table let go once written: 32.6 s (parse
26.1 s) and 755 MiB (6.0 x the tables, 0.79 x the input).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from generate import GENERATOR_VERSION, parse_size  # bench/ is sys.path[0]

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = BENCH_DIR.parent
MIB = 2**20


def make_single_dump(work: Path, size: int, seed: int) -> tuple[Path, dict]:
    """WORK/<size>-<seed>/raw/single.txt: every dump of a generated pile, one after another."""
    folder = work / f"{size}-seed{seed}-v{GENERATOR_VERSION}"
    raw = folder / "raw"
    dump, info = raw / "single.txt", folder / "pile.json"
    if dump.exists() and info.exists():
        return dump, json.loads(info.read_text())
    shutil.rmtree(folder, ignore_errors=True)
    raw.mkdir(parents=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        pile = Path(tmp)
        # In a subprocess: a child fork()ed from a big parent inherits its peak RSS figure.
        command = [sys.executable, str(BENCH_DIR / "generate.py"), "--out", str(pile)]
        subprocess.run([*command, "--size", str(size), "--seed", str(seed)], check=True)
        expected = json.loads((pile / "expected.json").read_text())
        with open(dump.with_suffix(".partial"), "wb") as sink:
            for part in sorted(pile.glob("*.txt")):
                with open(part, "rb") as source:
                    shutil.copyfileobj(source, sink, 16 * MIB)
                sink.write(b"\n\n")  # a part may end mid-line: keep pages apart
    dump.with_suffix(".partial").rename(dump)
    info.write_text(
        json.dumps(
            {
                "bytes": dump.stat().st_size,
                "parts": expected["files"],
                "raw_records": expected["raw_records"],
                "distinct_papers_in_pile": expected["distinct_papers"],
                "seconds_to_make": round(time.perf_counter() - started, 1),
            },
            indent=2,
        )
    )
    return dump, json.loads(info.read_text())


def peak_rss(command: list[str], env: dict[str, str], log: Path) -> tuple[int, float, int]:
    """(exit code, seconds, peak RSS in bytes) of one fresh process."""
    with open(log, "wb") as err:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err
        )
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, seconds, usage.ru_maxrss * 1024  # ru_maxrss is KiB on Linux


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="1GB", help="size of the single dump, e.g. 100MB, 1GB")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=PROJECT_ROOT / "build" / "single-file")
    parser.add_argument(
        "--max-output-multiple",
        type=float,
        default=None,
        help="exit 1 if peak RSS exceeds this multiple of the tables' size",
    )
    args = parser.parse_args(argv)
    size = parse_size(args.size)
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)

    dump, pile = make_single_dump(work, size, args.seed)
    raw, out = dump.parent, dump.parent.parent / "out"
    shutil.rmtree(out, ignore_errors=True)
    summary_json = work / "summary.json"
    env = {
        **os.environ,
        "PAPERS_ETL_SUMMARY_JSON": str(summary_json),
        "GX_ANALYTICS_ENABLED": "false",
        "HF_HUB_OFFLINE": "1",
    }
    python = sys.executable
    _, _, baseline = peak_rss(
        [python, "-c", "import etl.pipeline, etl.report"], env, work / "baseline.err"
    )
    command = [python, "-m", "etl", "build", "--raw", str(raw), "--out", str(out)]
    code, seconds, peak = peak_rss(
        [*command, "--no-validate", "--no-cache", "--jobs", "1"], env, work / "build.err"
    )
    if code != 0:
        tail = (work / "build.err").read_text(errors="replace").strip().splitlines()[-5:]
        print(f"build failed (exit {code}):", *tail, sep="\n  ", file=sys.stderr)
        return 2
    summary = json.loads(summary_json.read_text())
    output = sum(p.stat().st_size for p in out.glob("*.parquet"))
    result = {
        "size": args.size,
        "seed": args.seed,
        "input_bytes": pile["bytes"],
        "output_bytes": output,
        "peak_rss_bytes": peak,
        "import_only_rss_bytes": baseline,
        "rss_over_output": round(peak / output, 2),
        "rss_over_input": round(peak / pile["bytes"], 2),
        "seconds": round(seconds, 1),
        "stage_seconds": summary.get("stage_seconds", {}),
        "records": summary.get("records"),
        "papers": summary.get("papers"),
        "distinct_papers_in_pile": pile["distinct_papers_in_pile"],
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
    }
    results_file = work / "results.json"
    results = json.loads(results_file.read_text()) if results_file.exists() else {}
    results[f"{args.size}-seed{args.seed}"] = result
    results_file.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")

    print(f"single dump     {pile['bytes'] / MIB:10.1f} MiB  ({pile['parts']} pages pasted)")
    print(f"tables written  {output / MIB:10.1f} MiB")
    print(f"peak RSS        {peak / MIB:10.1f} MiB  (import only: {baseline / MIB:.0f} MiB)")
    print(f"  = {peak / output:.1f} x the tables, {peak / pile['bytes']:.2f} x the input")
    print(
        f"wall time       {seconds:10.1f} s    "
        + " ".join(f"{stage} {value:.1f}" for stage, value in result["stage_seconds"].items())
    )
    print(
        f"records {result['records']:,}  papers {result['papers']:,}  "
        f"(pile: {pile['distinct_papers_in_pile']:,} distinct)"
    )
    if args.max_output_multiple is not None and peak > args.max_output_multiple * output:
        print(f"FAIL: peak RSS above {args.max_output_multiple} x the tables", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

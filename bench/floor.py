"""The least time any build of a pile can take on this machine, whatever its parser.

Every build must start Python with polars and pyarrow, read every byte, hash every dump
(`sources.source_sha256`), check that the text is UTF-8 and cut it into lines, and write
`papers.parquet` and `sources.parquet` zstd-compressed. This times each of those steps alone,
at the fastest primitive hashlib, polars and pyarrow offer, at the project's writer settings
(`etl.write.write_parquet`), the best of `--repeat` runs.

The papers file is one stream that cannot start before the last dump is parsed and
deduplicated (each row depends on every record of its paper, and rows go in `paper_id`
order), and a Parquet writer encodes one file on one thread (pyarrow's and polars' took the
same 1.5 s for the 1 GB pile's papers). The rest spreads over the cores. So no build of
the pile can take less than

    startup + (read, hash, split) / cores + max(encode papers, encode sources)

and what it has left, against a target's budget, is the time for everything that makes
records of the lines: classifying them, pairing titles with abstracts, footers, dates,
links, deduplication and the other tables. Adding one dump changes papers in every row
group (its repeats of old papers are spread over the whole table), and pyarrow cannot copy
an encoded row group into a new file, so even a build that knew every other answer from the
last one would take at least startup + max(encode papers, encode sources).

    .venv/bin/python bench/floor.py PILE TABLES [--cores 2] [--target-mb-s 300] [--repeat 3]
                                    [--json FILE]

TABLES is a build of PILE (bench/run.py leaves one in build/bench/SIZE/out/build).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from etl.pipeline import list_dumps  # noqa: E402
from etl.write import write_parquet  # noqa: E402

PARALLEL_STEP = "read, hash, split"
STARTUP = "import polars, pyarrow.parquet, etl.pipeline"  # run in PROJECT_ROOT


def incremental_lower_bound(seconds: dict[str, float]) -> float:
    """An incremental build's least time: start, and encode the papers and sources again."""
    return seconds["startup"] + max(seconds["encode papers"], seconds["encode sources"])


def lower_bound(seconds: dict[str, float], cores: int) -> float:
    """The formula of the module docstring, over the steps' measured seconds: what every
    build does, plus reading the dumps shared by the cores."""
    return incremental_lower_bound(seconds) + seconds[PARALLEL_STEP] / cores


def _best(repeat: int, step: Callable[[], object]) -> tuple[float, object]:
    """The least wall time of `repeat` runs of step, and its last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = step()
        best = min(best, time.perf_counter() - start)
    return best, result


def _read_hash_split(files: list[Path]) -> tuple[int, int]:
    """Bytes and lines of the dumps, each read, hashed, checked as UTF-8 and cut into lines
    in turn: done a dump at a time, while it is in the CPU's cache, this costs a quarter less
    than the three steps each over all dumps. The check and the split are polars', cheaper
    than Python's decode and splitlines."""
    size = lines = 0
    for path in files:
        dump = path.read_bytes()
        hashlib.sha256(dump).digest()
        text = pl.Series([dump]).cast(pl.String)
        lines += text.str.split("\n").explode().len() - dump.endswith(b"\n")
        size += len(dump)
    return size, lines


def measure(pile: Path, tables: Path, repeat: int) -> dict[str, object]:
    """Seconds of each unavoidable step, and what they worked on."""
    files = list_dumps(pile)
    startup = partial(subprocess.run, [sys.executable, "-c", STARTUP], check=True, cwd=PROJECT_ROOT)
    seconds: dict[str, float] = {}
    seconds["startup"], _ = _best(repeat, startup)
    seconds[PARALLEL_STEP], (size, lines) = _best(repeat, partial(_read_hash_split, files))
    rows = {}
    with tempfile.TemporaryDirectory() as scratch:
        for name in ("papers", "sources"):
            table = pq.read_table(tables / f"{name}.parquet")
            rows[name] = table.num_rows
            encode = partial(write_parquet, table, Path(scratch) / f"{name}.parquet")
            seconds[f"encode {name}"], _ = _best(repeat, encode)
    return {"bytes": size, "dumps": len(files), "lines": lines, "rows": rows, "seconds": seconds}


def report(measured: dict[str, object], cores: int, target_mb_s: float) -> dict[str, object]:
    seconds = measured["seconds"]
    floor = lower_bound(seconds, cores)
    budget = measured["bytes"] / 1e6 / target_mb_s
    return {
        **measured,
        "cores": cores,
        "lower_bound_seconds": floor,
        "best_possible_mb_s": measured["bytes"] / 1e6 / floor,
        "target_mb_s": target_mb_s,
        "target_seconds": budget,
        "left_for_making_records_seconds": budget - floor,
        "incremental_lower_bound_seconds": incremental_lower_bound(seconds),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pile", type=Path, help="a folder of dumps (bench/generate.py)")
    parser.add_argument("tables", type=Path, help="a build of that pile")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--target-mb-s", type=float, default=300.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    result = report(measure(args.pile, args.tables, args.repeat), args.cores, args.target_mb_s)
    print(
        f"{result['dumps']:,} dumps, {result['bytes'] / 1e6:,.0f} MB, {result['lines']:,} lines;"
        f" tables: {result['rows']['papers']:,} papers, {result['rows']['sources']:,} records"
    )
    for step, value in result["seconds"].items():
        where = f"/ {args.cores} cores" if step == PARALLEL_STEP else ""
        print(f"  {step:<18} {value:7.2f} s {where}")
    print(
        f"lower bound {result['lower_bound_seconds']:.2f} s"
        f" ({result['best_possible_mb_s']:.0f} MB/s at best);"
        f" {args.target_mb_s:.0f} MB/s allows {result['target_seconds']:.2f} s,"
        f" leaving {result['left_for_making_records_seconds']:.2f} s"
        " to make records of the lines and deduplicate them"
    )
    print(
        f"an incremental build (one dump added) takes at least"
        f" {result['incremental_lower_bound_seconds']:.2f} s"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""bench/floor.py: the least time any build can take, from the steps every build must do."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq

from etl import build
from tests.conftest import load_bench

floor = load_bench("floor")
generate = load_bench("generate")


def test_the_bound_is_startup_plus_the_shared_reading_plus_the_longer_encode() -> None:
    seconds = {
        "startup": 0.5,
        floor.PARALLEL_STEP: 2.0,
        "encode papers": 1.5,
        "encode sources": 0.25,
    }
    assert floor.lower_bound(seconds, cores=2) == 0.5 + 1.0 + 1.5
    assert floor.lower_bound(seconds, cores=4) == 0.5 + 0.5 + 1.5
    assert floor.incremental_lower_bound(seconds) == 0.5 + 1.5
    seconds["encode sources"] = 3.0
    assert floor.lower_bound(seconds, cores=2) == 0.5 + 1.0 + 3.0
    assert floor.incremental_lower_bound(seconds) == 0.5 + 3.0


def test_it_reads_every_byte_and_line_and_encodes_the_built_tables(tmp_path: Path) -> None:
    pile, out = tmp_path / "pile", tmp_path / "out"
    generate.generate(pile, 300_000, seed=2)
    build(pile, out, validate=False)
    figures = tmp_path / "floor.json"
    assert floor.main([str(pile), str(out), "--repeat", "1", "--json", str(figures)]) == 0

    result = json.loads(figures.read_text())
    dumps = [path.read_bytes() for path in sorted(pile.glob("*.txt"))]
    assert result["dumps"] == len(dumps)
    assert result["bytes"] == sum(map(len, dumps))
    lines = sum(d.count(b"\n") + (not d.endswith(b"\n")) for d in dumps if d)
    assert result["lines"] == lines
    assert result["rows"] == {
        name: pq.read_metadata(out / f"{name}.parquet").num_rows for name in ("papers", "sources")
    }
    assert result["lower_bound_seconds"] == floor.lower_bound(result["seconds"], 2)
    budget = result["bytes"] / 1e6 / 300
    assert result["left_for_making_records_seconds"] == budget - result["lower_bound_seconds"]

"""The committed dataset can never go stale: it equals a fresh build of data/raw."""

from __future__ import annotations

import pytest

from etl.schemas import TABLES
from tests.conftest import PROJECT_ROOT, RAW_DIR, SHARED_SEEDS


def test_committed_tables_equal_a_fresh_build(tmp_path):
    from etl import build

    outcome = build(RAW_DIR, tmp_path / "fresh", validate=False)
    assert outcome.exit_code == 0
    committed = PROJECT_ROOT / "data" / "processed"
    for spec in TABLES:
        fresh = (tmp_path / "fresh" / spec.file_name).read_bytes()
        assert (committed / spec.file_name).read_bytes() == fresh, (
            f"data/processed/{spec.file_name} is stale: run `make data` and commit it"
        )


def test_shipped_seeds_are_the_shared_seeds():
    if not SHARED_SEEDS.is_dir():
        pytest.skip("../shared/seeds is not beside this checkout")
    for seed in SHARED_SEEDS.glob("*.txt"):
        assert (RAW_DIR / seed.name).read_bytes() == seed.read_bytes()

"""The dataset card: fresh against the committed data, complete, and its examples run."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from etl import card, config, query, schemas

DATA = config.PROCESSED_DIR
CHART_TEXT_CHUNKS = (b"tEXt", b"iTXt", b"zTXt", b"tIME")


@pytest.fixture(scope="module")
def rendered() -> str:
    return card.render_card(DATA)


def front_matter(text: str) -> dict:
    match = re.match(r"---\n(.*?)\n---\n", text, re.DOTALL)
    assert match, "the card must start with YAML front matter"
    return yaml.safe_load(match[1])


def section(text: str, heading: str) -> str:
    """The markdown from `heading` to the next heading of the same or a higher level."""
    level = heading.split(" ")[0]
    start = text.index(f"\n{heading}\n")
    ends = [m.start() for m in re.finditer(rf"\n#{{1,{len(level)}}} ", text) if m.start() > start]
    return text[start : ends[0] if ends else len(text)]


def test_committed_card_matches_the_committed_data(rendered: str) -> None:
    committed = card.CARD_PATH.read_text(encoding="utf-8")
    assert committed == rendered, "dataset_card.md is stale: run `make data` (or write_card)"


def test_committed_chart_matches_the_committed_data() -> None:
    assert card.CHART_PATH.read_bytes() == card.render_chart(DATA), "assets/ chart is stale"


def test_chart_is_byte_identical_and_carries_no_varying_metadata() -> None:
    first, second = card.render_chart(DATA), card.render_chart(DATA)
    assert first == second
    assert first.startswith(b"\x89PNG\r\n\x1a\n")
    assert not any(chunk in first for chunk in CHART_TEXT_CHUNKS)


def test_front_matter_has_the_hub_fields_and_one_config_per_table(rendered: str) -> None:
    meta = front_matter(rendered)
    hub_fields = {"pretty_name", "language", "tags", "size_categories", "task_categories"}
    assert hub_fields <= set(meta)
    assert meta["license"] == "cc-by-4.0"
    papers = pq.read_metadata(DATA / "papers.parquet").num_rows
    assert meta["size_categories"] == [card.size_category(papers)]
    configs = meta["configs"]
    assert [c["config_name"] for c in configs] == ["papers", "authors", "dates", "links", "sources"]
    assert [c["config_name"] for c in configs if c.get("default")] == ["papers"]
    for c in configs:
        assert c["data_files"] == [{"split": "train", "path": card.staged_glob(c["config_name"])}]


def test_huggingface_hub_reads_the_card_metadata(rendered: str) -> None:
    from huggingface_hub import DatasetCard

    data = DatasetCard(rendered).data
    assert (data.license, data.size_categories) == ("cc-by-4.0", front_matter(rendered)["size_categories"])
    assert [c["config_name"] for c in data.configs] == list(card.PAPER_TABLES)


def test_only_the_paper_tables_with_rows_are_configs() -> None:
    counts = {"papers": 3, "authors": 0, "dates": 0, "links": 1, "sources": 3, "rejects": 2}
    assert card.config_tables(counts) == ("papers", "links", "sources")
    assert card.config_tables(counts | {"authors": 1, "dates": 1}) == card.PAPER_TABLES


def test_every_column_of_every_table_is_documented(rendered: str) -> None:
    for spec in schemas.TABLES:
        body = section(rendered, f"### `{spec.name}`")
        rows = body.splitlines()
        for column in spec.columns:
            row = next(line for line in rows if line.startswith(f"| `{column.name}` |"))
            assert f"| `{card.type_name(column.type)}` |" in row
            assert ("| yes |" if column.nullable else "| no |") in row


def test_row_counts_in_the_card_are_those_of_the_files(rendered: str) -> None:
    overview = section(rendered, "## At a glance")
    for spec in schemas.TABLES:
        row = next(line for line in overview.splitlines() if line.startswith(f"| `{spec.name}` |"))
        assert row.endswith(f"| {pq.read_metadata(DATA / spec.file_name).num_rows} |")


def test_generated_blocks_are_fenced_and_the_template_fully_filled(rendered: str) -> None:
    begins = re.findall(r"<!-- BEGIN GENERATED (\w+):", rendered)
    ends = re.findall(r"<!-- END GENERATED (\w+) -->", rendered)
    assert begins == ends and len(begins) >= 6
    assert "${" not in rendered
    assert f"]({card.CHART_REF})" in rendered


def test_every_example_query_runs(rendered: str) -> None:
    examples = card.example_queries(rendered)
    assert len(examples) >= 4
    con = query.connect(DATA)
    for sql in examples:
        assert query.run_query(con, sql) is not None, sql


@pytest.mark.parametrize(
    ("rows", "category"),
    [(0, "n<1K"), (999, "n<1K"), (1_000, "1K<n<10K"), (99_999, "10K<n<100K"),
     (10**8, "100M<n<1B"), (10**13, "n>1T")],
)
def test_size_category(rows: int, category: str) -> None:
    assert card.size_category(rows) == category


def test_write_card_links_the_chart_relatively_and_rewrites_nothing_unchanged(
    tmp_path: Path,
) -> None:
    card_path, chart_path = tmp_path / "site" / "README.md", tmp_path / "img" / "chart.png"
    card.write_card(DATA, card_path, chart_path)
    text = card_path.read_text(encoding="utf-8")
    assert "](../img/chart.png)" in text
    assert chart_path.read_bytes() == card.CHART_PATH.read_bytes()
    before = (card_path.stat().st_mtime_ns, chart_path.stat().st_mtime_ns)
    card.write_card(DATA, card_path, chart_path)
    assert (card_path.stat().st_mtime_ns, chart_path.stat().st_mtime_ns) == before
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["README.md", "chart.png", "img", "site"]

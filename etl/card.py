"""The dataset card (the Hub README) and its chart, rendered from the tables.

The prose is hand-written in templates/dataset_card.md.tmpl; everything that depends on the
data (row counts, which tables are configs, date range, size category, dumps, top link
hosts, rejects, the chart) or on the schemas (column tables) is computed here on every
build, so the card cannot go stale. Generated blocks are fenced by BEGIN/END GENERATED
markers so that readers know not to edit them by hand.
"""

from __future__ import annotations

import io
import os
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from string import Template
from typing import Any

import duckdb
import pyarrow as pa
import yaml

from etl import config, query, schemas

TEMPLATE_PATH = Path(__file__).parent / "templates" / "dataset_card.md.tmpl"
CARD_PATH = config.PROJECT_ROOT / "dataset_card.md"
CHART_PATH = config.PROJECT_ROOT / "assets" / "papers_per_year.png"
CHART_REF = CHART_PATH.relative_to(config.PROJECT_ROOT).as_posix()  # as the card links it
# The five paper tables are the Hub configs, those with rows (see `config_tables`); `rejects`
# is staged for audit only (see card).
PAPER_TABLES: tuple[str, ...] = ("papers", "authors", "dates", "links", "sources")
DEFAULT_CONFIG = "papers"
REPO_ID_PLACEHOLDER = "OWNER/NAME"
TOP_HOSTS = 10
# The Hub's `size_categories` buckets (exclusive upper bounds), counted in papers.
_SIZE_CATEGORIES = tuple(
    (10**exponent, name)
    for exponent, name in (
        (3, "n<1K"),
        (4, "1K<n<10K"),
        (5, "10K<n<100K"),
        (6, "100K<n<1M"),
        (7, "1M<n<10M"),
        (8, "10M<n<100M"),
        (9, "100M<n<1B"),
        (10, "1B<n<10B"),
        (11, "10B<n<100B"),
        (12, "100B<n<1T"),
    )
)


def config_tables(row_counts: Mapping[str, int]) -> tuple[str, ...]:
    """The paper tables that are Hub configs: those with rows, in `PAPER_TABLES` order.

    `datasets` (5.2) cannot load a Parquet table without rows: one empty row group fails
    with `BatchSize must be greater than 0`, no row group with `Instruction "train"
    corresponds to no data` (upstream: huggingface/datasets PR #8401, open). An empty
    table is still staged in `data/<table>/`; only its config is left out. `papers` always
    has rows (validation requires them), so the default config is always there.
    """
    return tuple(table for table in PAPER_TABLES if row_counts[table] > 0)


def staged_file(table: str) -> str:
    """Where a table's Parquet file goes in the Hub layout (relative to the repo root)."""
    return f"data/{table}/{table}.parquet"


def staged_glob(table: str) -> str:
    """The pattern the card's configs (and `hf://` readers) use for a table's files."""
    return f"data/{table}/*.parquet"


def size_category(rows: int) -> str:
    """The Hub `size_categories` bucket for a row count."""
    return next((name for bound, name in _SIZE_CATEGORIES if rows < bound), "n>1T")


def _generated(name: str, body: str) -> str:
    """Fence a generated block so that a reader of the markdown knows where it came from."""
    return (
        f"<!-- BEGIN GENERATED {name}: rendered by etl/card.py; do not edit -->\n"
        f"{body.rstrip()}\n<!-- END GENERATED {name} -->"
    )


def _md_cell(value: object) -> str:
    """One markdown table cell: null as an em dash, pipes escaped, on one line."""
    if value is None:
        return "—"
    return " ".join(str(value).split()).replace("|", "\\|")


def _md_table(header: Sequence[str], rows: Iterable[Sequence[object]], numeric: int = 0) -> str:
    """A GitHub-flavoured markdown table; the last `numeric` columns are right-aligned."""
    align = ["---"] * (len(header) - numeric) + ["---:"] * numeric
    lines = [header, align, *([_md_cell(v) for v in row] for row in rows)]
    return "\n".join("| " + " | ".join(line) + " |" for line in lines)


_SQL_BLOCK = re.compile(r"^```sql\n(.*?)^```$", re.DOTALL | re.MULTILINE)


def example_queries(card_text: str) -> list[str]:
    """The card's ```sql blocks: the examples tests run so that they always work."""
    return [block.strip() for block in _SQL_BLOCK.findall(card_text)]


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[Any, ...]]:
    """All rows of a statistics query (the card's numbers all come from SQL on the views)."""
    return con.sql(sql).fetchall()


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> Any:
    return _rows(con, sql)[0][0]


def type_name(data_type: pa.DataType) -> str:
    """Arrow type as `datasets` names it too (`date32[day]` is `Value('date32')`)."""
    return "date32" if pa.types.is_date32(data_type) else str(data_type)


def papers_per_year(con: duckdb.DuckDBPyConnection) -> list[tuple[int, int]]:
    """(year, papers) for every year from the first to the last dated paper, gaps as 0."""
    counts = dict(_rows(con, "SELECT year(published_date), count(*) FROM dates GROUP BY 1"))
    if not counts:
        return []
    return [(year, counts.get(year, 0)) for year in range(min(counts), max(counts) + 1)]


def _config_cell(table: str, configs: Sequence[str]) -> str:
    """The overview's `config` column: a config, an empty paper table, or audit only."""
    if table in configs:
        return "yes"
    return "no (empty)" if table in PAPER_TABLES else "no (audit)"


def _overview(
    con: duckdb.DuckDBPyConnection, row_counts: Mapping[str, int], configs: Sequence[str]
) -> str:
    counts = [
        (f"`{t.name}`", _config_cell(t.name, configs), t.doc, row_counts[t.name])
        for t in schemas.TABLES
    ]
    table = _md_table(("table", "config", "contents", "rows"), counts, numeric=1)
    (papers, abstracts, upvotes, authors, dated, linked, first, last) = _rows(
        con,
        """
        SELECT count(*), count(abstract), count(upvotes), count(author_count),
               count(published_date), count(*) FILTER (WHERE len(links) > 0),
               min(published_date), max(published_date)
        FROM papers_full""",
    )[0]
    sources = dict(_rows(con, "SELECT year_source, count(*) FROM dates GROUP BY 1"))
    year_sources = ", ".join(f"{sources.get(s, 0)} `{s}`" for s in schemas.YEAR_SOURCES)
    dumps, records, first_capture, last_capture = _rows(
        con,
        """
        SELECT count(DISTINCT source_file), count(*), min(captured_on), max(captured_on)
        FROM sources""",
    )[0]
    if first_capture is None:
        captures = ""
    elif first_capture == last_capture:
        captures = f", captured on {first_capture} where known"
    else:
        captures = f", captured between {first_capture} and {last_capture} where known"
    date_range = (
        f"from **{first}** to **{last}** ({dated} of {papers} papers have a date; "
        f"year source: {year_sources})"
        if dated
        else "none (no paper has a date)"
    )
    bullets = [
        f"- **{papers} papers** from {records} raw records in {dumps} "
        f"dump{'' if dumps == 1 else 's'}{captures}.",
        f"- Published dates {date_range}.",
        f"- {abstracts} papers have an abstract, {upvotes} an upvote count, {authors} an "
        f"author count and {linked} at least one link.",
        f"- Size category: `{size_category(papers)}`.",
    ]
    return _generated("overview", table + "\n\n" + "\n".join(bullets))


def _chart(con: duckdb.DuckDBPyConnection, chart_ref: str) -> str:
    per_year = [(year, n) for year, n in papers_per_year(con) if n]
    body = (
        f"![Papers per published year]({chart_ref})\n\n"
        + _md_table(("year", "papers"), per_year, numeric=1)
        if per_year
        else "No paper has a published date yet."
    )
    return _generated("chart", body)


def _dumps(con: duckdb.DuckDBPyConnection) -> str:
    rows = _rows(
        con,
        """
        SELECT s.source_file, any_value(s.dump_format),
               -- pages pasted into one dump may have been captured on different days
               CASE WHEN min(s.captured_on) = max(s.captured_on) THEN min(s.captured_on)::VARCHAR
                    ELSE min(s.captured_on) || ' to ' || max(s.captured_on) END,
               count(*), count(DISTINCT s.paper_id),
               count(DISTINCT s.paper_id) FILTER (WHERE s.paper_id IN (
                   SELECT o.paper_id FROM sources AS o WHERE o.source_file <> s.source_file))
        FROM sources AS s GROUP BY s.source_file ORDER BY s.source_file""",
    )
    header = ("dump", "layout", "captured on", "records", "papers", "also in another dump")
    return _generated("dumps", _md_table(header, rows, numeric=3))


def _columns() -> str:
    sections = []
    for t in schemas.TABLES:
        rows = [
            (f"`{c.name}`", f"`{type_name(c.type)}`", "yes" if c.nullable else "no", c.doc)
            for c in t.columns
        ]
        key = ", ".join(f"`{k}`" for k in t.primary_key)
        sections.append(
            f"### `{t.name}`\n\n{t.doc} Primary key: {key}; rows sorted by it.\n\n"
            + _md_table(("column", "type", "nullable", "meaning"), rows)
        )
    return _generated("columns", "\n\n".join(sections))


def _rejects(con: duckdb.DuckDBPyConnection) -> str:
    counts = {
        reason: (spans, lines)
        for reason, spans, lines in _rows(
            con,
            """
        SELECT reason, count(*), sum(line_end - line_start + 1) FROM rejects GROUP BY 1""",
        )
    }
    rows = [
        (f"`{reason}`", meaning, *counts.get(reason, (0, 0)))
        for reason, meaning in schemas.REJECT_REASONS.items()
    ]
    return _generated(
        "rejects",
        "Reject reasons in this build:\n\n"
        + _md_table(("reason", "meaning", "spans", "lines"), rows, numeric=2),
    )


def _top_hosts(con: duckdb.DuckDBPyConnection) -> str:
    rows = _rows(
        con,
        f"""
        SELECT host, string_agg(DISTINCT kind, ', ' ORDER BY kind), count(*),
               count(DISTINCT paper_id)
        FROM links GROUP BY host ORDER BY count(*) DESC, host LIMIT {TOP_HOSTS}""",
    )
    total = _scalar(con, "SELECT count(*) FROM links")
    body = f"Top link hosts ({total} links in all):\n\n" + _md_table(
        ("host", "kinds", "links", "papers"), rows, numeric=2
    )
    return _generated("top_hosts", body)


def _hub_views(repo_id: str) -> str:
    """sql/views.sql pointed at the Hub layout, as a copy-paste Python snippet."""
    sql = query.views_sql(lambda table: f"hf://datasets/{repo_id}/{staged_glob(table)}")
    statements = "\n".join(
        line for line in sql.splitlines() if line.strip() and not line.startswith("--")
    )
    body = (
        f'```python\nimport duckdb\n\ncon = duckdb.connect()\ncon.sql("""\n{statements}\n""")\n```'
    )
    return _generated("hub_views", body)


def _configs_yaml(tables: Sequence[str]) -> str:
    configs = [
        {
            "config_name": t,
            **({"default": True} if t == DEFAULT_CONFIG else {}),
            "data_files": [{"split": "train", "path": staged_glob(t)}],
        }
        for t in tables
    ]
    return yaml.safe_dump({"configs": configs}, sort_keys=False).rstrip()


def _configs(configs: Sequence[str]) -> str:
    """One sentence on which paper tables are configs in this build, naming any left out."""
    empty = [f"`{t}`" for t in PAPER_TABLES if t not in configs]
    if not empty:
        body = "In this build every paper table has rows, so each is a config."
    elif len(empty) == 1:
        body = f"In this build {empty[0]} has no rows, so it is not a config."
    else:
        names = f"{', '.join(empty[:-1])} and {empty[-1]}"
        body = f"In this build {names} have no rows, so they are not configs."
    return _generated("configs", body)


def render_card(
    data_dir: Path,
    *,
    repo_id: str | None = None,
    chart_ref: str = CHART_REF,
) -> str:
    """The card's markdown for the tables in `data_dir` (reads them; writes nothing).

    `repo_id` fills the loading examples (a placeholder when not yet known); `chart_ref` is
    the chart's path relative to the card.
    """
    con = query.connect(data_dir)
    try:
        row_counts = {
            t.name: int(_scalar(con, f"SELECT count(*) FROM {t.name}")) for t in schemas.TABLES
        }
        configs = config_tables(row_counts)
        values = {
            "size_category": size_category(row_counts["papers"]),
            "configs_yaml": _configs_yaml(configs),
            "configs": _configs(configs),
            "repo_id": repo_id or REPO_ID_PLACEHOLDER,
            "overview": _overview(con, row_counts, configs),
            "chart": _chart(con, chart_ref),
            "top_hosts": _top_hosts(con),
            "dumps": _dumps(con),
            "columns": _columns(),
            "rejects": _rejects(con),
            "hub_views": _hub_views(repo_id or REPO_ID_PLACEHOLDER),
            "truncated_min_chars": config.TRUNCATED_ABSTRACT_MIN_CHARS,
            "abstract_similarity": f"{config.REVISED_ABSTRACT_MIN_SIMILARITY:g}",
            "title_similarity": f"{config.REVISED_TITLE_MIN_SIMILARITY:g}",
            "min_year": config.MIN_PUBLISHED_YEAR,
            "min_authors": config.MIN_AUTHOR_COUNT,
            "max_authors": config.MAX_AUTHOR_COUNT,
        }
    finally:
        con.close()
    text = Template(TEMPLATE_PATH.read_text(encoding="utf-8")).substitute(values)
    return text.rstrip() + "\n"


def render_chart(data_dir: Path) -> bytes:
    """A bar chart of papers per published year as PNG bytes, identical for identical data.

    Built on a bare Agg figure under matplotlib's default style (no pyplot state, no user
    matplotlibrc) and saved without the `Software` text chunk, the only varying metadata.
    """
    import matplotlib.style
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    con = query.connect(data_dir)
    try:
        per_year = papers_per_year(con)
        papers = _scalar(con, "SELECT count(*) FROM papers")
    finally:
        con.close()
    with matplotlib.style.context("default"):
        figure = Figure(figsize=(7, 3), dpi=100, layout="constrained")
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        if per_year:
            years, counts = zip(*per_year, strict=True)
            bars = axes.bar(years, counts, color="#ff9d00", edgecolor="#b36b00")
            axes.bar_label(bars, labels=[str(n) if n else "" for n in counts], fontsize=8)
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
            axes.yaxis.set_major_locator(MaxNLocator(integer=True))
            axes.set_ylim(0, max(counts) * 1.15)
        else:
            axes.text(
                0.5, 0.5, "no dated papers", ha="center", va="center", transform=axes.transAxes
            )
        dated = sum(n for _, n in per_year)
        axes.set_title(f"Papers per published year ({dated} of {papers} papers have a date)")
        axes.set_ylabel("papers")
        axes.spines[["top", "right"]].set_visible(False)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` in one rename, and not at all when the bytes are already there."""
    if path.is_file() and path.read_bytes() == data:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")  # umask mode, unlike mkstemp
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_card(data_dir: Path, card_path: Path = CARD_PATH, chart_path: Path = CHART_PATH) -> None:
    """Write the card and its chart for `data_dir`; the card links the chart relatively."""
    chart_ref = Path(os.path.relpath(chart_path.resolve(), card_path.resolve().parent)).as_posix()
    text = render_card(data_dir, chart_ref=chart_ref)
    _write_atomic(chart_path, render_chart(data_dir))
    _write_atomic(card_path, text.encode("utf-8"))

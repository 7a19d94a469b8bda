"""Invariants over generated dumps (hypothesis): order and harmless copies change no paper."""

from __future__ import annotations

import datetime as dt
import tempfile
import unicodedata
from pathlib import Path

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etl import build
from etl.dumps import parse_file

CAPTURED = dt.date(2025, 11, 11)
WORDS = [
    "learning",
    "meta",
    "café",
    "über",
    "naïve",
    "graph",
    "model",
    "señal",
    "fast",
    "deep",
    "agents",
    "Zürich",
    "retrieval",
    "scaling",
    "vision",
    "language",
    "robots",
    "tasks",
]
LINKS = [
    "",
    " Code: https://github.com/owner/repo.",
    " See https://huggingface.co/x/y).",
    " Video https://youtu.be/abc (demo).",
]

PAPER_FIELDS = (
    "paper_id",
    "title",
    "abstract",
    "upvotes",
)
CHILD_TABLES = ("authors", "dates", "links")


@st.composite
def papers(draw: st.DrawFn) -> list[dict]:
    """A pool of distinct papers with footers, accents and links."""
    count = draw(st.integers(min_value=1, max_value=6))
    pool = []
    for i in range(count):
        words = draw(st.lists(st.sampled_from(WORDS), min_size=2, max_size=6))
        title = f"Paper {i}: " + " ".join(words).capitalize()
        sentence = " ".join(draw(st.lists(st.sampled_from(WORDS), min_size=25, max_size=40)))
        abstract = f"Abstract of paper {i}. We study {sentence}.{draw(st.sampled_from(LINKS))}"
        footer = draw(
            st.one_of(
                st.none(),
                st.tuples(
                    st.integers(1, 40),
                    st.sampled_from(["Apr 5", "Feb 28, 2024", "Oct 4, 2023"]),
                    st.one_of(st.none(), st.integers(0, 500)),
                ),
            )
        )
        pool.append({"title": title, "abstract": abstract, "footer": footer})
    return pool


def search_page(pool: list[dict]) -> str:
    parts = [
        "new",
        "Get trending papers in your email inbox!",
        "Subscribe",
        "Daily Papers",
        "byAK and the research community",
        "Nov 11",
    ]
    for paper in pool:
        parts += [paper["title"], paper["abstract"]]
        if paper["footer"]:
            authors, date, upvotes = paper["footer"]
            parts += [f"  • {authors} authors\n·\n{date}" + (f" {upvotes}" if upvotes else "")]
    return "\n\n".join(parts)


def compact(pool: list[dict]) -> str:
    lines = [
        "Get trending papers in your email inbox once a day!",
        "Get trending papers in your email inbox!",
    ]
    for i, paper in enumerate(pool):
        lines += [("Subscribe" if i == 0 else "") + paper["title"], paper["abstract"]]
    return "\n".join(lines) + "\n"


@st.composite
def dump_sets(draw: st.DrawFn) -> dict[str, bytes]:
    """Two to four dumps drawing on one pool, so papers repeat across files."""
    pool = draw(papers())
    dumps = {}
    for i in range(draw(st.integers(2, 4))):
        chosen = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=len(pool), unique_by=id))
        render = draw(st.sampled_from([search_page, compact]))
        dumps[f"dump_{i}.txt"] = render(chosen).encode("utf-8")
    return dumps


def build_tables(dumps: dict[str, bytes]) -> dict[str, pa.Table]:
    """A whole build (no validation) of the dumps, all captured on CAPTURED."""
    with tempfile.TemporaryDirectory() as folder:
        raw = Path(folder) / "raw"
        raw.mkdir()
        for name, data in dumps.items():
            (raw / name).write_bytes(data)
        rows = "".join(f"{name},{CAPTURED.isoformat()},\n" for name in dumps)
        (raw / "manifest.csv").write_text("file,captured_on,source_url\n" + rows)
        outcome = build(raw, Path(folder) / "out", validate=False, jobs=1)
        return {name: outcome.tables[name] for name in outcome.tables}


def paper_view(tables: dict[str, pa.Table]) -> dict[str, list]:
    """Everything about the papers except provenance."""
    view = {f"papers.{f}": tables["papers"].column(f).to_pylist() for f in PAPER_FIELDS}
    for name in CHILD_TABLES:
        view[name] = tables[name].to_pylist()
    return view


PROPERTY_SETTINGS = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@PROPERTY_SETTINGS
@given(dump_sets(), st.randoms())
def test_reordering_the_dumps_changes_no_table(dumps, random):
    names = sorted(dumps)
    shuffled = names[:]
    random.shuffle(shuffled)
    # Renaming changes the order in which the build reads the files.
    renamed = {f"{i:02d}_{name}": dumps[name] for i, name in enumerate(shuffled)}
    original, reordered = build_tables(dumps), build_tables(renamed)
    for name in ("papers", "authors", "dates", "links"):
        assert original[name].equals(reordered[name]), name
    back = {f"{i:02d}_{name}": name for i, name in enumerate(shuffled)}

    def provenance(table: pa.Table, rename: dict[str, str] | None = None) -> list:
        rows = table.to_pylist()
        for row in rows:
            row["source_file"] = (rename or {}).get(row["source_file"], row["source_file"])
        return sorted(rows, key=lambda r: (r["source_file"], r["line_start"]))

    assert provenance(original["sources"]) == provenance(reordered["sources"], back)


def crlf(data: bytes) -> bytes:
    return data.replace(b"\n", b"\r\n")


def nfd(data: bytes) -> bytes:
    return unicodedata.normalize("NFD", data.decode("utf-8")).encode("utf-8")


def identical(data: bytes) -> bytes:
    return data


@PROPERTY_SETTINGS
@given(dump_sets(), st.sampled_from([crlf, nfd, identical]), st.data())
def test_a_harmless_copy_of_a_dump_changes_no_paper(dumps, variant, data):
    name = data.draw(st.sampled_from(sorted(dumps)))
    before = build_tables(dumps)
    after = build_tables(dumps | {"zz_copy.txt": variant(dumps[name])})
    assert paper_view(after) == paper_view(before)
    assert after["sources"].num_rows > before["sources"].num_rows
    counts_before = before["papers"].column("source_count").to_pylist()
    counts_after = after["papers"].column("source_count").to_pylist()
    assert sum(counts_after) == sum(counts_before) + (
        after["sources"].num_rows - before["sources"].num_rows
    )


@PROPERTY_SETTINGS
@given(dump_sets())
def test_every_line_is_accounted_for(dumps):
    for name, data in dumps.items():
        result = parse_file(data, name, CAPTURED)
        assert (
            result.boilerplate_lines + result.record_lines + result.rejected_lines
            == result.total_lines
        )
        assert result.rejects == []

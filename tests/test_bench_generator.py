"""The benchmark's pile generator: deterministic, right-sized, and honest about its counts.

The benchmark's PASS/FAIL rests on expected.json, so these tests recount a small pile
independently (bench/naive.py's parser plus a union-find over title keys and abstracts)
instead of trusting the generator's own counters.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import unicodedata
from pathlib import Path

import pytest

from tests.conftest import load_bench

generate = load_bench("generate")
naive = load_bench("naive")

SMALL = 200_000
NON_ALNUM = re.compile(r"[\W_]+")
ELLIPSIS = re.compile(r"\s*(?:\.\.\.|…)\s*\Z")


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def small_pile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pile") / "pile"
    generate.generate(out, SMALL, seed=0)
    return out


@pytest.fixture(scope="module")
def medium_pile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("medium")
    generate.generate(base / "pile", 2_000_000, seed=3, extra=base / "extra")
    return base / "pile", base / "extra"


def test_same_args_give_identical_bytes(small_pile: Path, tmp_path: Path) -> None:
    generate.generate(tmp_path / "again", SMALL, seed=0)
    assert _files(tmp_path / "again") == _files(small_pile)


def test_other_seed_gives_other_pile(small_pile: Path, tmp_path: Path) -> None:
    generate.generate(tmp_path / "other", SMALL, seed=1)
    assert _files(tmp_path / "other") != _files(small_pile)


def test_size_matches_target(small_pile: Path) -> None:
    dumps = list(small_pile.glob("*.txt"))
    total = sum(p.stat().st_size for p in dumps)
    assert SMALL <= total <= SMALL * 1.1
    expected = json.loads((small_pile / "expected.json").read_text())
    assert expected["bytes"] == total
    assert expected["files"] == len(dumps) >= 4


def test_both_formats_and_file_level_variants(small_pile: Path) -> None:
    dumps = sorted(small_pile.glob("*.txt"))
    assert all(re.fullmatch(r"bench_\d{6}\.txt", p.name) for p in dumps)
    first_lines = {p.read_bytes().split(b"\n", 1)[0].rstrip(b"\r") for p in dumps}
    assert b"new" in first_lines  # search-results page
    assert b"Get trending papers in your email inbox once a day!" in first_lines  # compact
    assert any(b"\r\n" in p.read_bytes() for p in dumps)
    assert not dumps[0].read_bytes().endswith(b"\n")  # like the seed search page
    text = dumps[0].read_text(encoding="utf-8")
    assert "\n  • " in text and "\n·\n" in text
    with open(small_pile / "manifest.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["file"] for r in rows] == [p.name for p in dumps]
    assert any(r["captured_on"] == "" for r in rows)
    assert any(re.fullmatch(r"\d{4}-\d{2}-\d{2}", r["captured_on"]) for r in rows)


def _recount(pile: Path) -> tuple[int, int, int]:
    """(records, distinct papers, distinct title keys), independently of the generator.

    Every copy of a paper shows at least the first 200 characters of its abstract, and no
    two papers share their first 120 (`test_distinct_abstracts_have_their_own_opening_and_
    ending`): a paper is an opening, whatever its titles (revised, or a namesake's).
    """
    records = 0
    openings: set[str] = set()
    title_keys: set[str] = set()
    for path in sorted(pile.glob("*.txt")):
        for title, abstract, *_ in naive.parse(path):
            records += 1
            openings.add(" ".join((abstract or "").split())[:120])
            title_keys.add(NON_ALNUM.sub("", title.casefold()))
    return records, len(openings), len(title_keys)


def test_expected_counts_match_an_independent_recount(medium_pile: tuple[Path, Path]) -> None:
    pile, _ = medium_pile
    expected = json.loads((pile / "expected.json").read_text())
    records, papers, title_keys = _recount(pile)
    assert records == expected["raw_records"]
    assert papers == expected["distinct_papers"]
    assert title_keys == expected["distinct_title_keys"]
    assert 0.6 < papers / records < 0.8
    details = expected["details"]
    for feature in ("truncated_records", "revised_title_papers", "nfd_records",
                    "footerless_search_records", "title_variant_records", "crlf_files",
                    "yearless_dates", "upvoted_footers", "abstracts_with_urls",
                    "namesake_papers", "multi_page_files"):
        assert details[feature] > 0, feature
    assert sum(details["records_by_format"].values()) == records


def test_truncated_and_revised_copies_are_mergeable(medium_pile: tuple[Path, Path]) -> None:
    """Copies of a paper under one title agree: each a whole or a truncated (>= 200 chars)
    abstract. Two abstracts under one title are two papers only as namesakes; two titles of
    one abstract are a revision, very similar."""
    from rapidfuzz import fuzz

    pile, _ = medium_pile
    by_key: dict[str, dict[str, list[str]]] = {}
    by_abstract: dict[str, set[str]] = {}
    for path in sorted(pile.glob("*.txt")):
        for title, abstract, *_ in naive.parse(path):
            assert abstract is not None and 40 <= len(title) <= 161
            papers = by_key.setdefault(NON_ALNUM.sub("", title.casefold()), {})
            papers.setdefault(abstract[:120], []).append(abstract)
            by_abstract.setdefault(abstract, set()).add(title)
    truncated = 0
    for papers in by_key.values():
        for abstracts in papers.values():
            longest = max(abstracts, key=len)
            for abstract in abstracts:
                prefix = ELLIPSIS.sub("", abstract)
                assert longest.startswith(prefix)
                if prefix != longest:
                    truncated += 1
                    assert len(prefix) >= 200
    assert truncated > 0
    namesakes = sum(len(papers) - 1 for papers in by_key.values())
    expected = json.loads((pile / "expected.json").read_text())
    assert namesakes == expected["details"]["namesake_papers"] > 0
    pairs = [sorted(t) for t in by_abstract.values()
             if len({NON_ALNUM.sub("", x.casefold()) for x in t}) > 1]
    assert pairs
    for first, *others in pairs:
        for other in others:
            assert fuzz.token_set_ratio(first.casefold(), other.casefold()) >= 85


def test_nfd_copies_exist_and_fold_to_nfc(medium_pile: tuple[Path, Path]) -> None:
    pile, _ = medium_pile
    raw = "".join(p.read_text(encoding="utf-8") for p in sorted(pile.glob("*.txt")))
    assert not unicodedata.is_normalized("NFC", raw)


def test_extra_dump_continues_the_pile(medium_pile: tuple[Path, Path], tmp_path: Path) -> None:
    pile, extra = medium_pile
    generate.generate(tmp_path / "plain", 2_000_000, seed=3)
    assert _files(tmp_path / "plain") == _files(pile)  # the extra dump leaves the pile alone
    expected = json.loads((pile / "expected.json").read_text())
    after = json.loads((extra / "expected.json").read_text())
    assert after["files_after"] == expected["files"] + 1
    assert after["raw_records_after"] == expected["raw_records"] + after["records"]
    assert after["distinct_papers_after"] == expected["distinct_papers"] + after["new_papers"]
    assert 0 < after["new_papers"] < after["records"]
    assert (extra / after["file"]).is_file()
    both = tmp_path / "both"
    both.mkdir()
    for path in [*pile.glob("*.txt"), extra / after["file"]]:
        (both / path.name).write_bytes(path.read_bytes())
    records, papers, _ = _recount(both)
    assert (records, papers) == (after["raw_records_after"], after["distinct_papers_after"])



def test_distinct_abstracts_have_their_own_opening_and_ending(
    medium_pile: tuple[Path, Path],
) -> None:
    """As in real listings, two papers never share the first or last 120 characters of their
    abstracts (dedupe blocks on those; v2's endings from a sentence bank made the blocks grow
    with the pile). Copies of one paper do: a truncated copy is a prefix of the full one."""
    pile, _ = medium_pile
    by_opening: dict[str, set[str]] = {}
    for path in sorted(pile.glob("*.txt")):
        for _, abstract, *_ in naive.parse(path):
            text = unicodedata.normalize("NFC", abstract)
            by_opening.setdefault(text[:120], set()).add(text)
    papers = []
    for copies in by_opening.values():
        longest = max(copies, key=len)
        assert all(longest.startswith(ELLIPSIS.sub("", copy)) for copy in copies)
        papers.append(longest)
    endings = [abstract[-120:] for abstract in papers]
    assert len(papers) > 1_000
    assert len(set(endings)) == len(endings)


def test_the_answer_key_points_at_each_record_in_its_dump(
    medium_pile: tuple[Path, Path],
) -> None:
    """truth_records.csv, read against the dumps themselves: the title on the first line,
    the footer's date (or the abstract) on the last, the paper's abstract in between (every
    copy whole but the truncated ones)."""
    pile, _ = medium_pile
    with open(pile / generate.TRUTH_PAPERS, newline="", encoding="utf-8") as handle:
        hashes = {row["paper"]: row["abstract_sha256"] for row in csv.DictReader(handle)}
    with open(pile / generate.TRUTH_RECORDS, newline="", encoding="utf-8") as handle:
        records = list(csv.DictReader(handle))
    expected = json.loads((pile / "expected.json").read_text())
    assert len(records) == expected["raw_records"]
    assert len(hashes) == expected["distinct_papers"]
    lines: dict[str, list[str]] = {}
    cut_short = 0
    for row in records:
        if row["source_file"] not in lines:
            text = (pile / row["source_file"]).read_text(encoding="utf-8")
            lines[row["source_file"]] = unicodedata.normalize("NFC", text).splitlines()
        shown = lines[row["source_file"]]
        first, last = int(row["line_start"]), int(row["line_end"])
        title = " ".join(shown[first - 1].removeprefix("Subscribe").split())
        assert title == row["title"], row
        body = [line for line in shown[first:last] if line.strip()]
        abstract = body[0].strip().encode("utf-8")
        cut_short += hashlib.sha256(abstract).hexdigest() != hashes[row["paper"]]
        if row["date_text"]:
            assert body[-1] == " ".join(filter(None, (row["date_text"], row["upvotes"]))), row
        else:
            assert len(body) == 1 and not row["upvotes"], row
    assert cut_short == expected["details"]["truncated_records"] > 0

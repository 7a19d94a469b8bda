"""The straightforward reference: a pure-Python loop with regexes, a dict, pandas to Parquet.

Why it exists: it is what a first version of the build would look like, so the benchmark
can say how the real build compares. It is a speed reference, not a correct build: it keys
papers on the folded title only (a revised title counts as a second paper) and keeps no
provenance, rejects, links or dates beyond the text shown.

    python bench/naive.py RAW_DIR OUT_DIR
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

BOILERPLATE = frozenset((
    "new", "Get trending papers in your email inbox!",
    "Get trending papers in your email inbox once a day!", "Subscribe", "Daily Papers",
    "byAK and the research community",
))
GLUED = re.compile(r"^(?:Get trending papers in your email inbox(?: once a day)?!|Subscribe)+")
AUTHORS = re.compile(r"^•\s*(\d[\d,]*)\s+authors?$")
DATE = re.compile(
    r"^(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (\d{1,2})(?:, (\d{4}))?(?: (\d+))?$"
)
NON_ALNUM = re.compile(r"[\W_]+")

Record = tuple[str, str | None, int | None, str | None, int | None]


def parse(path: Path) -> Iterator[Record]:
    """(title, abstract, authors, date_text, upvotes) per paper; both formats in one loop."""
    text = path.read_text(encoding="utf-8", errors="replace")  # universal newlines: CRLF too
    text = unicodedata.normalize("NFC", text)
    title: str | None = None
    abstract: str | None = None
    authors: int | None = None
    after_header = True  # a page's header glues `Subscribe` to the next line
    for raw in text.split("\n"):
        line = raw.strip()
        if not line or line in BOILERPLATE or line == "·":
            after_header = after_header or line in BOILERPLATE
            continue
        if after_header:
            after_header = False
            line = GLUED.sub("", line).strip()
            if not line:
                continue
        match = AUTHORS.match(line)
        if match:
            authors = int(match[1].replace(",", ""))
            continue
        match = DATE.match(line)
        if match:
            if title is not None:
                upvotes = int(match[4]) if match[4] else None
                text_shown = line if match[4] is None else line.rsplit(" ", 1)[0]
                yield title, abstract, authors, text_shown, upvotes
                title = abstract = None
                authors = None
            continue  # the page date under the header
        if title is None:
            title = " ".join(line.split())
        elif abstract is None:
            abstract = " ".join(line.split())
        else:
            yield title, abstract, authors, None, None
            title, abstract, authors = " ".join(line.split()), None, None
    if title is not None:
        yield title, abstract, authors, None, None


@dataclass(slots=True)
class Paper:
    title: str
    abstract: str | None
    upvotes: int | None
    source_count: int
    author_count: int | None
    date_text: str | None


def build(raw_dir: Path, out_dir: Path) -> dict[str, int]:
    papers: dict[str, Paper] = {}
    files = records = 0
    for path in sorted(raw_dir.glob("*.txt")):
        files += 1
        for title, abstract, authors, date_text, upvotes in parse(path):
            records += 1
            key = NON_ALNUM.sub("", title.lower())
            paper = papers.get(key)
            if paper is None:
                papers[key] = Paper(title, abstract, upvotes, 1, authors, date_text)
                continue
            if abstract and len(abstract) > len(paper.abstract or ""):
                paper.abstract = abstract
            if upvotes is not None and (paper.upvotes is None or upvotes > paper.upvotes):
                paper.upvotes = upvotes
            paper.source_count += 1
            if paper.author_count is None:
                paper.author_count = authors
            if paper.date_text is None:
                paper.date_text = date_text
    frame = pd.DataFrame.from_records(
        [
            (hashlib.sha256(k.encode()).hexdigest()[:16], p.title, p.abstract, p.upvotes,
             p.source_count, p.author_count, p.date_text)
            for k, p in papers.items()
        ],
        columns=["paper_id", "title", "abstract", "upvotes", "source_count", "author_count",
                 "date_text"],
    )
    frame["upvotes"] = frame["upvotes"].astype("Int32")
    frame["author_count"] = frame["author_count"].astype("Int32")
    frame["source_count"] = frame["source_count"].astype("int32")
    frame = frame.sort_values("paper_id", kind="stable")
    out_dir.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(out_dir / "papers.parquet", index=False, compression="zstd")
    return {"files": files, "records": records, "papers": len(frame)}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python bench/naive.py RAW_DIR OUT_DIR", file=sys.stderr)
        return 2
    started = time.perf_counter()
    counts = build(Path(args[0]), Path(args[1]))
    print(json.dumps({**counts, "seconds": round(time.perf_counter() - started, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""URL extraction and classification, one rule per test."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from etl.links import extract_links, link_rows, strip_trailing_punctuation


def test_trailing_sentence_punctuation_is_not_part_of_the_url():
    for written in (
        "https://github.com/a/b.",
        "https://github.com/a/b,",
        "https://github.com/a/b;",
    ):
        assert strip_trailing_punctuation(written) == "https://github.com/a/b"


def test_unbalanced_closing_parenthesis_is_dropped_balanced_one_kept():
    assert strip_trailing_punctuation("https://github.com/a/b).") == "https://github.com/a/b"
    assert strip_trailing_punctuation("https://en.wikipedia.org/wiki/X_(y)") == (
        "https://en.wikipedia.org/wiki/X_(y)"
    )


def test_trailing_slash_is_kept():
    (link,) = extract_links("Code: http://github.com/WangYueFt/rfs/.")
    assert link.url == "http://github.com/WangYueFt/rfs/"
    assert link.repo == "WangYueFt/rfs"


def test_kinds_by_host():
    text = (
        "See https://github.com/o/r, https://gitlab.com/g/p, https://bitbucket.org/t/x, "
        "https://huggingface.co/datasets/a/b, https://arxiv.org/abs/2401.00001, "
        "https://youtu.be/abc, https://www.youtube.com/watch?v=1 and https://example.org/page."
    )
    kinds = [(link.host, link.kind) for link in extract_links(text)]
    assert kinds == [
        ("github.com", "code"),
        ("gitlab.com", "code"),
        ("bitbucket.org", "code"),
        ("huggingface.co", "huggingface"),
        ("arxiv.org", "arxiv"),
        ("youtu.be", "video"),
        ("www.youtube.com", "video"),
        ("example.org", "project"),
    ]


def test_repo_is_owner_and_name_of_code_links_only():
    links = extract_links(
        "https://github.com/google-research/self-organising-systems/tree/master/x "
        "https://github.com/onlyowner https://example.org/a/b https://github.com/o/r.git"
    )
    assert [link.repo for link in links] == [
        "google-research/self-organising-systems",
        None,
        None,
        "o/r",
    ]


def test_host_is_lowercase():
    (link,) = extract_links("Visit HTTPS://GitHub.COM/Owner/Repo.")
    assert (link.url, link.host, link.kind, link.repo) == (
        "HTTPS://GitHub.COM/Owner/Repo",
        "github.com",
        "code",
        "Owner/Repo",
    )


def test_a_url_repeated_in_one_abstract_is_listed_once():
    assert len(extract_links("https://aka.ms/icl and again https://aka.ms/icl.")) == 1


def test_malformed_urls_are_skipped():
    assert extract_links("broken https:// and http://localhost and https://[::1") == []


def test_vectorized_link_rows_match_extract_links():
    import polars as pl

    from etl.links import link_rows

    abstracts = [
        "Code: https://github.com/a/b). Video HTTPS://YouTu.be/x, and https://github.com/a/b.",
        None,
        "No links here.",
        "See https://huggingface.co/x/y and https://[::1 and http://localhost.",
    ]
    rows = link_rows(pl.Series(abstracts, dtype=pl.String))
    expected = [
        (i, link.url, link.host, link.kind, link.repo)
        for i, text in enumerate(abstracts)
        if text
        for link in extract_links(text)
    ]
    assert rows.rows() == expected


_HOSTS = st.one_of(
    st.sampled_from(
        ["github.com", "GitHub.COM", "www.github.com", "gist.github.com", "gitlab.com",
         "bitbucket.org", "hf.co", "huggingface.co", "m.youtube.com", "youtu.be", "arxiv.org",
         "ArXiv.Org", "localhost", "example.com", "xgithub.com", "", "Ab%Cd.org",
         "a\uff0fb.org", "\u212aelvin.org", "[::1]", "[::1", "x]y.org", "[v1.x]"]
    ),
    st.text(alphabet="aZ.-_é\u212a\uff0f%41[]:", max_size=12),
)
_URLS = st.tuples(
    st.sampled_from(["https://", "http://", "HTTPS://", "Http://"]),
    st.sampled_from(["", "user@", "a@b@", "u:p@"]),
    _HOSTS,
    st.sampled_from(["", ":8080", ":", ":x"]),
    st.lists(
        st.sampled_from(["owner", "Repo", "repo.git", ".git", "", "x(y)", "a)b", "%41", "é"]),
        max_size=4,
    ).map(lambda parts: "".join("/" + p for p in parts)),
    st.sampled_from(["", "?q=1", "#f", "?a#b", "#a?b", "?x=(1)"]),
    st.text(alphabet=".,;:)]}(»\u2019'\"*!?", max_size=4),
).map("".join)
_ABSTRACTS = st.lists(
    st.one_of(_URLS, st.sampled_from(["see", "code:", "(at", "and", "\u00a0", "x\x01"])),
    max_size=8,
).map(" ".join)


@settings(max_examples=400, deadline=None)
@given(st.lists(_ABSTRACTS, max_size=5))
def test_vectorized_link_rows_equal_extract_links_on_any_text(abstracts):
    rows = link_rows(pl.Series(abstracts, dtype=pl.String))
    expected = [
        (i, link.url, link.host, link.kind, link.repo)
        for i, text in enumerate(abstracts)
        for link in extract_links(text)
    ]
    assert rows.rows() == expected


def test_urls_ending_in_long_runs_of_punctuation_are_stripped_as_extract_links_does():
    abstracts = [
        "Dotted https://x.org/a" + "." * 3000,
        "Brackets https://a.org/b" + ")" * 2000 + ".)" * 500,
        "Mixed https://github.com/o/r(x)).).)';",
    ]
    expected = [
        (i, link.url, link.host, link.kind, link.repo)
        for i, text in enumerate(abstracts)
        for link in extract_links(text)
    ]
    assert [row[1] for row in expected] == [
        "https://x.org/a",
        "https://a.org/b",
        "https://github.com/o/r(x)",
    ]
    assert link_rows(pl.Series(abstracts)).rows() == expected

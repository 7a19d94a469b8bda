"""URL extraction and classification, one rule per test."""

from __future__ import annotations

from etl.links import extract_links, strip_trailing_punctuation


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

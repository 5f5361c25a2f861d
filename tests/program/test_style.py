from reer_pipeline.program.style import author_style, split_trailing_tags


def test_closing_block_is_split_from_inline_tags():
    assert split_trailing_tags("Ship it today.\n\n#Python #rust") == (
        "Ship it today.",
        ["Python", "rust"],
    )
    assert split_trailing_tags("I love #python and more. #a #b") == (
        "I love #python and more.",
        ["a", "b"],
    )
    assert split_trailing_tags("I love #python") == ("I love #python", [])
    assert split_trailing_tags("#only #tags") == ("", ["only", "tags"])


def test_author_who_closes_with_tags():
    posts = [
        "Ship small PRs. #DevOps #Python",
        "New release!\n#python",
        "no tags here",
        "Read this.",
    ]
    style = author_style(posts)
    assert style["hashtag_position"] == "end"
    assert [t.lower() for t in style["typical_hashtags"]] == ["python", "devops"]  # most used first
    assert style["hashtags_per_post"] in (1, 2)


def test_author_who_tags_inline_and_most_used_spelling_wins():
    posts = ["Why #Rust wins at #WebAssembly", "More #Rust today", "#rust again, folks", "plain"]
    style = author_style(posts)
    assert style["hashtag_position"] == "inline"
    assert style["typical_hashtags"][:2] == ["Rust", "WebAssembly"]


def test_author_who_rarely_tags_and_numbers_are_not_tags():
    assert author_style(["plain post"] * 9 + ["one #tag"])["hashtag_position"] == "none"
    assert author_style(["We're #1 again", "top #10 list"])["typical_hashtags"] == []
    assert author_style([])["hashtag_position"] == "none"

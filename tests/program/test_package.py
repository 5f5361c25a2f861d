import random
import re

import pytest

from reer_pipeline.platforms import NAMES, get, limit, pack, split_thread
from reer_pipeline.program.package import package

WORDS = "ship small tests early because reviewers read them before the code itself".split()
NUMBERING = re.compile(r" (\d+)/(\d+)$")


def synthetic(seed: int, sentences: int) -> str:
    rng = random.Random(seed)
    out = []
    for i in range(sentences):
        words = [rng.choice(WORDS) for _ in range(rng.randint(4, 30))]
        out.append(" ".join(words).capitalize() + rng.choice(".!?"))
        if i % 5 == 4:
            out.append("\n\n")
    return " ".join(out)


def words_of(text: str) -> list[str]:
    return text.split()


@pytest.mark.parametrize("seed", range(20))
def test_thread_parts_fit_break_between_words_and_keep_every_word(seed):
    text = synthetic(seed, 3 + seed * 2)
    parts = split_thread(text, 280)
    assert all(len(p) <= 280 for p in parts)
    bodies = [NUMBERING.sub("", p) for p in parts] if len(parts) > 1 else parts
    assert words_of(" ".join(bodies)) == words_of(text)  # nothing lost, no word cut in two


def test_thread_prefers_sentence_boundaries_and_numbers_only_threads():
    text = " ".join(f"Sentence {i} says one clear thing about tests." for i in range(20))
    parts = split_thread(text, 280)
    assert len(parts) > 1
    for i, p in enumerate(parts, 1):
        body, n = NUMBERING.sub("", p), NUMBERING.search(p)
        assert (int(n.group(1)), int(n.group(2))) == (i, len(parts))
        assert body.endswith(".")  # every part ends on a sentence
    short = split_thread("One short post.", 280)
    assert short == ["One short post."]


def test_thread_prefers_paragraph_breaks():
    para = "A sentence that is about sixty characters long, give or take."
    text = f"{para} {para} {para}\n\n{para} {para}"
    parts = split_thread(text, 280)
    assert len(parts) == 2 and parts[0].startswith(para) and parts[1].startswith(para)
    assert parts[0].count(para) == 3


def test_overlong_sentence_breaks_on_words_and_overlong_word_is_cut():
    sentence = " ".join(["word"] * 200)
    assert all(len(p) <= 100 for p in pack(sentence, 100))
    assert all(set(p.split()) == {"word"} for p in pack(sentence, 100))
    url = "https://example.com/" + "a" * 400
    assert all(len(p) <= 280 for p in split_thread(url, 280))


@pytest.mark.parametrize("platform", NAMES)
def test_package_respects_each_platform_limit(platform):
    cap = limit(platform)
    text = synthetic(7, 200)
    style = {"hashtag_position": "end", "typical_hashtags": ["tests"], "hashtags_per_post": 1}
    out = package(text, platform, style, topic="tests")
    assert out["limit"] == cap and out["within_limit"]
    assert all(len(p) <= cap for p in out["parts"])
    if len(text) < cap:
        assert out["parts"] == [out["text"]] and not out["truncated"]
    elif not get(platform).threaded:  # no threads: cut on a sentence, hashtags kept
        assert out["truncated"] and len(out["parts"]) == 1
        assert out["text"].endswith("#tests")
    else:
        assert len(out["parts"]) > 1 and out["parts"][-1].rsplit(" ", 1)[0].endswith("#tests")


def test_package_short_post_is_one_unnumbered_part():
    out = package("  Tests   are docs.  ", "x")
    assert out["parts"] == ["Tests are docs."] and out["text"] == "Tests are docs."
    assert not out["truncated"] and out["within_limit"]


def test_package_empty_and_unknown_platform():
    assert package("", "x")["parts"] == []
    with pytest.raises(ValueError, match="platform"):
        package("hi", "tiktok")


def test_hashtags_follow_the_author():
    draft = "Write #tests first. They document python code.\n\n#dev #code #more #tags"
    end = {"hashtag_position": "end", "typical_hashtags": ["Python"], "hashtags_per_post": 2}
    out = package(draft, "linkedin", end)
    assert out["text"].endswith("\n\n#tests #Python") and out["hashtags"] == ["tests", "Python"]
    assert "Write tests first." in out["text"]

    inline = {"hashtag_position": "inline", "typical_hashtags": ["Python"], "hashtags_per_post": 2}
    out = package(draft, "linkedin", inline)
    assert out["text"] == "Write #tests first. They document #python code."

    none = {"hashtag_position": "none", "typical_hashtags": [], "hashtags_per_post": 0}
    out = package(draft, "linkedin", none)
    assert out["hashtags"] == [] and out["text"] == "Write tests first. They document python code."


def test_author_tags_are_added_only_when_the_post_or_topic_mentions_them():
    style = {"hashtag_position": "end", "typical_hashtags": ["Rust", "Python"]}
    out = package("Borrow checking explained.", "mastodon", style, topic="rust ownership")
    assert out["hashtags"] == ["Rust"]


def test_the_packager_fills_real_links_and_drops_invented_ones():
    from reer_pipeline.program.package import LINK, URL, fill_links

    invented = "New study out [link] read it at https://made.up/x and [[Link]](https://t.co/y)"
    packed = package(invented, "x", topic="a study", links=["https://real.example/study"])
    assert "https://real.example/study" in packed["text"]
    assert LINK not in packed["text"] and "made.up" not in packed["text"]
    assert [u for u in URL.findall(packed["text"])] == ["https://real.example/study"]
    assert fill_links(f"Read this {LINK} now {LINK}") == "Read this now"
    dropped = package(invented, "linkedin")["text"]
    assert not URL.search(dropped) and "[" not in dropped and dropped.startswith("New study out")

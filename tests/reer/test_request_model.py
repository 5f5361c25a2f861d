"""REER's request on real posts with the embedded model (SmolLM2-135M): the topic names the
post's subject, never its form, whatever the model answered."""

from __future__ import annotations

import pytest

from reer_pipeline.reer.post import PostRef
from reer_pipeline.reer.search import FORM_WORDS, SearchConfig, parse_request, request_prompts
from reer_pipeline.text import grounded, subject_text, words
from tests.conftest import embedded_lm
from tests.sample_posts import sample_post, sample_texts

pytestmark = pytest.mark.slow

ISSUE_POSTS = (  # issue 21: "a fun and lighthearted tweet about ...", "a fictional character"
    "Hi everybody! Back to the original handle.",
    "For love comes more naturally to the human heart",
)


def test_the_request_names_the_posts_subject_on_real_posts():
    originals = [t for t in sample_texts() if t.isascii() and not t.startswith(("RT @", "@"))]
    texts = [sample_post(f) for f in ISSUE_POSTS] + originals[:: len(originals) // 10][:10]
    posts = [PostRef(str(i), "x", "BarackObama", t) for i, t in enumerate(texts)]
    cfg = SearchConfig()
    prompts = [p for post in posts for p in request_prompts(post)]
    outs = embedded_lm().generate(
        prompts, n=1, temperature=cfg.request_temperature, max_tokens=cfg.max_tokens_request
    )
    answers = [o[0] for o in outs]
    k = len(prompts) // len(posts)
    xs = [parse_request(p, answers[i * k : (i + 1) * k]) for i, p in enumerate(posts)]
    for post, x in zip(posts, xs, strict=True):
        said = set(words(x["topic"]))
        assert not said & (FORM_WORDS - set(words(post.text))), (x["topic"], x["raw"][0])
        assert grounded(x["topic"], subject_text(post.text), share=1.0), (x["topic"], post.text)
        assert x["text"].startswith(f"Write an X (Twitter) post about {x['topic']}")
    assert not {"fun", "lighthearted", "fictional", "character"} & {
        w for x in xs[:2] for w in words(x["topic"])
    }
    # the question still works: the model names the subject of some posts itself
    assert any("topic" not in x["fallback"] for x in xs), [x["raw"][0] for x in xs]

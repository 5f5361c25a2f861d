"""Rules every entry of `platforms.PLATFORMS` must keep, checked through the code that reads it:
ingest, the signatures, the requests and the packaging."""

import pytest

from reer_pipeline.ingest.formats import CsvMapping, ExportOptions, RecordError, iter_posts
from reer_pipeline.platforms import PLATFORMS, SHORTENERS, Account, get
from reer_pipeline.program.modules import render_request
from reer_pipeline.program.package import fill_links, package
from reer_pipeline.program.signatures import Judge

EACH = pytest.mark.parametrize("p", PLATFORMS.values(), ids=list(PLATFORMS))


@EACH
def test_a_draft_within_the_posting_limit_is_a_post_ingest_accepts(p):
    assert 0 < p.limit <= p.text_max


@EACH
def test_ingest_refuses_exactly_what_the_platform_cannot_publish(tmp_path, p):
    path = tmp_path / "posts.csv"
    longest, over = "a" * p.text_max, "b" * (p.text_max + 1)
    path.write_text(f"created_at,text\n2024-05-01 10:00,{longest}\n2024-05-01 11:00,{over}\n")
    options = ExportOptions(author="ann", csv=CsvMapping(platform=p.name))
    items = list(iter_posts(path, options))
    posts = [i for i in items if not isinstance(i, RecordError)]
    errors = [i for i in items if isinstance(i, RecordError)]
    assert [(post.platform, post.text) for post in posts] == [(p.name, longest)]
    assert len(errors) == 1 and f"more than the {p.text_max:,}" in errors[0].message


@EACH
def test_every_name_of_a_platform_finds_it(p):
    for name in (p.name, p.name.upper(), *p.aliases):
        assert get(name) is p
        assert Account.parse(f"{name}:ann").key == f"{p.name}:ann"


@EACH
def test_the_signatures_and_requests_name_the_platform(p):
    assert p.name in Judge.input_fields["platform"].json_schema_extra["desc"]
    assert p.display in render_request("shipping v2", p.name)


@EACH
def test_a_long_draft_is_packaged_within_the_limit_as_the_platform_threads(p):
    sentence = "We shipped the second version of the parser after a month of tests. "
    draft = sentence * (2 * p.limit // len(sentence) + 1)
    out = package(draft, p.name)
    assert out["within_limit"] and all(len(part) <= p.limit for part in out["parts"])
    assert (len(out["parts"]) > 1) is p.threaded
    assert out["truncated"] is not p.threaded


@pytest.mark.parametrize("domain", SHORTENERS)
def test_a_shortened_link_without_a_scheme_is_a_link(domain):
    text = f"Read the notes at {domain}/Ab12Cd and tell me."
    assert fill_links(text, ["https://example.org/notes"]) == (
        "Read the notes at https://example.org/notes and tell me."
    )
    assert fill_links(text) == "Read the notes at and tell me."

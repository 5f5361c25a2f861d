"""The text rules: sentences, words, n-grams, links and the one request wording."""

from reer_pipeline import platforms
from reer_pipeline.finetune.data import post_request
from reer_pipeline.program.modules import render_request as draft_request
from reer_pipeline.program.package import URL, fill_links
from reer_pipeline.reer.post import PostRef
from reer_pipeline.reer.search import parse_request
from reer_pipeline.reer.search import render_request as reer_request
from reer_pipeline.text import (
    copied_ngrams,
    cut_to_sentence,
    ends_sentence,
    find_links,
    first_sentence,
    grounded,
    name_words,
    paragraphs,
    request,
    split_sentences,
    strip_links,
    subject_phrase,
    subject_text,
    words,
)
from tests.sample_posts import sample_post


def test_sentences_end_after_their_closing_quote_or_ellipsis():
    line = 'She said "ship it." Then we waited… Why? Because (as always) tests ran. Done'
    assert split_sentences(line) == [
        'She said "ship it."',
        "Then we waited…",
        "Why?",
        "Because (as always) tests ran.",
        "Done",
    ]
    assert split_sentences("Version 3.5 is out. See v2.0 notes") == [
        "Version 3.5 is out.",
        "See v2.0 notes",
    ]
    assert first_sentence("\n\nWait... what? More here.\nNext line.") == "Wait..."
    assert paragraphs("one\n\n  \n\ntwo\nlines\n\n") == ["one", "two\nlines"]


def test_a_text_cut_mid_sentence_goes_back_to_its_last_full_sentence():
    cut = 'I will open with "the number." Then I will ask why it'
    assert cut_to_sentence(cut) == 'I will open with "the number."'
    assert not ends_sentence(cut) and ends_sentence(cut_to_sentence(cut))
    assert ends_sentence("I will end with a question?**")  # emphasis after the end mark
    assert cut_to_sentence("It ends here.**") == "It ends here.**"
    assert cut_to_sentence("no sentence end at all") == "no sentence end at all"
    assert cut_to_sentence("Short one. Then a long one that never", 20) == (
        "Short one. Then a long one that never"  # no sentence ends at 20 characters or later
    )


def test_words_have_letters_or_digits_and_inner_apostrophes_only():
    assert words("Don’t 'quote' me: we shipped v2 in 2024, state-of-the-art snake_case!") == [
        "don't",
        "quote",
        "me",
        "we",
        "shipped",
        "v2",
        "in",
        "2024",
        "state",
        "of",
        "the",
        "art",
        "snake",
        "case",
    ]
    assert words("Straße für Ärzte") == ["straße", "für", "ärzte"]
    assert words("see https://t.co/abc123 and www.example.com/x") == ["see", "and"]


def test_links_with_a_scheme_or_www_are_found_without_sentence_punctuation():
    text = "Read https://example.com/a?b=1. Or www.example.org/path, or (HTTP://X.CO/z)!"
    assert find_links(text) == [
        "https://example.com/a?b=1",
        "www.example.org/path",
        "HTTP://X.CO/z",
    ]
    assert strip_links(text, "") == "Read . Or , or ()!"
    assert find_links("an email a@b.com and example.com stay text") == []


def test_the_packager_and_the_training_data_catch_the_same_links_as_the_scorer():
    text = "New: www.example.com/study and https://t.co/x1 and t.co/abc"
    assert URL.findall(text) == ["www.example.com/study", "https://t.co/x1", "t.co/abc"]
    assert find_links(text) == ["www.example.com/study", "https://t.co/x1"]
    assert fill_links("Read it: www.example.com/made-up.", ["https://real.example"]) == (
        "Read it: https://real.example."
    )


def test_a_run_of_n_words_of_a_source_is_a_copy_unless_allowed():
    post = "Talk to ten customers before you write a single line of code."
    copy = "My plan: talk to ten customers before you write anything."
    assert copied_ngrams(copy, [post], 6) == [
        ("talk", "to", "ten", "customers", "before", "you"),
        ("to", "ten", "customers", "before", "you", "write"),
    ]
    assert copied_ngrams("I will ask founders what they tried before.", [post], 6) == []
    allowed = {("talk", "to", "ten", "customers", "before", "you")}
    assert copied_ngrams(copy, ["unrelated", post], 6, allowed) == [
        ("to", "ten", "customers", "before", "you", "write")
    ]


def test_one_request_wording_for_reer_drafting_and_the_author_model():
    x = platforms.display_name("x")
    assert request(x, "remote work.", "people who follow ada") == (
        "Write an X (Twitter) post about remote work for people who follow ada."
    )
    assert request("LinkedIn", "hiring", "a general audience", "apply today.") == (
        "Write a LinkedIn post about hiring. Goal: apply today."
    )
    # the author model is trained on what drafting asks by default: a subject, no audience
    same = request(x, "the solar tax credit")
    assert draft_request("the solar tax credit", "x", "a general audience") == same
    assert post_request("x", "the solar tax credit") == same
    assert reer_request("x", "the solar tax credit", "a general audience", "") == same
    post = PostRef("1", "x", "ada", "Ship small: shipping beats planning.")
    answers = ["This post is about shipping.", "developers", "The author wants readers to try"]
    assert parse_request(post, answers)["text"] == request(x, "shipping", "developers", "try")


# real posts of the shipped sample
GUN = sample_post("legislation to prevent gun violence")
WAGE = sample_post("Earning the minimum wage while raising a family")
MEET = sample_post("LAST CALL: Enter for a chance to meet President Obama")
MANDELA = sample_post("For love comes more naturally to the human heart")
QUOTE = sample_post('"Two years of community college should be as free and universal')


def test_a_posts_subject_is_a_short_phrase_in_its_own_words():
    for text in (GUN, WAGE, QUOTE, MEET, MANDELA):
        phrase = subject_phrase(text, exclude=name_words("BarackObama"))
        assert 2 <= len(phrase.split()) <= 6, (phrase, text)
        assert set(words(phrase)) <= set(words(subject_text(text))), (phrase, text)
        assert "http" not in phrase and "obama" not in words(phrase) and "," not in phrase
    assert "gun violence" in subject_phrase(GUN)
    assert "minimum wage" in subject_phrase(WAGE)
    assert subject_phrase("") == subject_phrase("https://t.co/abc") == ""
    # no keyphrase of 2 to 6 words: a short post's first sentence
    short = sample_post("Obamacare is here to stay.")
    assert subject_phrase(short).lower() == "obamacare is here to stay"


def test_subject_text_drops_labels_links_and_attributions_and_reads_hashtags():
    assert subject_text(WAGE).endswith("It's time to raise the wage:")
    assert "Mandela" not in subject_text(MANDELA) and subject_text(MANDELA).endswith('opposite."')
    assert subject_text(MEET) == "Enter for a chance to meet President Obama."
    assert subject_text("Proud of #VRA50 and @OFA") == "Proud of VRA50 and OFA"
    assert name_words("BarackObama") == {"barack", "obama"} == name_words("barack_obama")


def test_grounded_subjects_use_the_posts_words():
    assert grounded("the human heart", MANDELA)
    assert not grounded("a fictional character", MANDELA)
    assert grounded("a health insurance scam", "Get health insurance today.")
    assert not grounded("a health insurance scam", "Get health insurance today.", share=1.0)
    assert not grounded("", MANDELA) and not grounded("the and of", MANDELA)

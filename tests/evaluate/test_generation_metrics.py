import pytest

from iclkit.evaluate.metrics import exact_match, normalize_answer, summarize_generation, token_f1


def test_normalisation_numbers_articles_punctuation():
    assert normalize_answer("1,000.0") == normalize_answer("1000") == "1000"
    assert normalize_answer("The Paris.") == "paris"
    assert exact_match("Yes", "yes.") == 1.0 and exact_match("4", None) == 0.0


def test_token_f1_partial_credit():
    assert token_f1("new york city", "new york") == pytest.approx(0.8)
    assert token_f1("abc", None) == 0.0 and token_f1("abc", "abc") == 1.0


def test_summary_counts_unparseable():
    s = summarize_generation(["1", "2", "3"], ["1", None, "4"])
    assert s["exact_match"]["value"] == pytest.approx(1 / 3) and s["unparseable"] == 1
    assert s["exact_match"]["low"] < 1 / 3 < s["exact_match"]["high"]

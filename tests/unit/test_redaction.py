"""Secrets are masked wherever they appear: registered ones, and credential shapes."""

import pytest

from incident_lab.redaction import MASK, register_secret, scrub, scrub_value


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("postgresql://app:Hunter2Pass@db:5432/shop", "Hunter2Pass"),
        ("host=db password=Hunter2Pass dbname=shop", "Hunter2Pass"),
        ("host=db password='Hunter 2 Pass' dbname=shop", "Hunter 2 Pass"),
        ("ALTER ROLE app PASSWORD 'Hunter2Pass'", "Hunter2Pass"),
        ('{"Authorization": "Bearer abc.def.ghi"}', "abc.def.ghi"),
        ("authorization: Bearer abc.def.ghi", "abc.def.ghi"),
        ("x-api-key: k-123456789", "k-123456789"),
        ("https://h/p?user=a&password=Hunter2Pass", "Hunter2Pass"),
        ("key sk-proj-abcdefghijklmnop in a log line", "sk-proj-abcdefghijklmnop"),
    ],
)
def test_credential_shapes_are_masked_without_knowing_the_secret(text, secret):
    masked = scrub(text)
    assert secret not in masked and MASK in masked


def test_a_registered_secret_is_masked_anywhere_even_without_a_shape():
    register_secret("Zq7-registered-only")
    assert scrub("the value Zq7-registered-only leaked") == f"the value {MASK} leaked"


def test_short_strings_are_never_registered_since_they_would_mask_ordinary_words():
    register_secret("ab")
    assert scrub("abc ab") == "abc ab"


def test_scrub_value_walks_json_like_data():
    register_secret("Zq7-nested-secret")
    data = {"a": ["x Zq7-nested-secret", {"b": "Zq7-nested-secret"}], "n": 3, "none": None}
    assert scrub_value(data) == {"a": [f"x {MASK}", {"b": MASK}], "n": 3, "none": None}


def test_text_without_any_credential_shape_comes_back_unchanged():
    text = "SELECT count(*) FROM orders WHERE customer_id = 42"
    assert scrub(text) is text or scrub(text) == text

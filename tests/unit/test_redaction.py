"""Secrets are masked wherever they appear: registered ones, and credential shapes."""

import pytest

from incident_lab import redaction
from incident_lab.redaction import MASK, register_secret, scrub, scrub_value


@pytest.fixture(autouse=True)
def secrets_of_this_test_only(monkeypatch):
    """Secrets registered here are forgotten after each test: they are process-wide."""
    monkeypatch.setattr(redaction, "_known_secrets", set(redaction._known_secrets))


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


def test_a_password_that_is_also_a_word_never_masks_an_identifier():
    from incident_lab import Result, Verdict

    register_secret("postgres")  # a common default password
    result = Result("postgres.lock_contention", "h", Verdict.TRUE, "the postgres role", "", "", "", 1.0, {})
    written = result.to_dict()
    assert written["probe"] == "postgres.lock_contention" and written["kind"] == ""
    assert written["summary"] == f"the {MASK} role"
    assert Result.from_dict(written).probe == "postgres.lock_contention"


def test_a_table_is_scrubbed_cell_by_cell_where_one_pass_finds_anything():
    from incident_lab.result import Table

    register_secret("Zq7-table-secret")
    rows = (
        (1, "SELECT 1", None),
        (2, "ALTER ROLE app PASSWORD 'Hunter2Pass'", 3.5),
        (3, "connect postgresql://app:Hunter2Pass@db/shop", True),
        (4, "value Zq7-table-secret here", 0),
    )
    table = Table("sessions", ("pid", "query", "n"), rows, omitted=7)
    scrubbed = table.scrubbed()
    assert [row[0] for row in scrubbed.rows] == [1, 2, 3, 4] and scrubbed.omitted == 7
    assert [row[2] for row in scrubbed.rows] == [None, 3.5, True, 0]
    assert scrubbed.rows[0][1] == "SELECT 1"
    assert "Hunter2Pass" not in str(scrubbed.rows) and "Zq7-table-secret" not in str(scrubbed.rows)
    assert [scrub(text) for _, text, _ in rows] == [row[1] for row in scrubbed.rows]


def test_a_table_with_nothing_to_mask_comes_back_as_it_is():
    from incident_lab.result import Table

    register_secret("Zq7-absent-secret")
    table = Table(
        "blocking_tree", ("pid", "query"), tuple((pid, "SELECT count(*) FROM orders") for pid in range(500))
    )
    assert table.scrubbed() is table


def test_one_pass_over_many_texts_misses_no_secret_in_any_of_them():
    register_secret("Zq7-in-the-middle")
    texts = ["SELECT 1"] * 300 + ["x Zq7-in-the-middle y", "https://h/p?token=abc123", "SELECT 2"]
    masked = redaction.scrub_texts(texts)
    assert masked is not texts and list(masked) == [scrub(text) for text in texts]
    assert masked[300] == f"x {MASK} y" and masked[301] == f"https://h/p?token={MASK}"
    assert redaction.scrub_texts(["SELECT 1", "SELECT 2"]) == ["SELECT 1", "SELECT 2"]


def test_credential_marks_are_found_in_any_case():
    assert "Hunter2Pass" not in scrub("PASSWORD=Hunter2Pass")
    assert "abc.def" not in scrub('{"AUTHORIZATION": "Bearer abc.def"}')


def test_the_one_pass_ignores_case_as_the_patterns_do():
    # re.IGNORECASE takes a long s (U+017F) for "s": so must the pass that decides whether to look.
    text = "PA\u017f\u017fWORD=Hunter2Pass"
    assert "Hunter2Pass" not in scrub(text)
    assert "Hunter2Pass" not in redaction.scrub_texts(["SELECT 1", text])[1]

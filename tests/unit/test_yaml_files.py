"""YAML written by people: one line naming the file for every way it can be unusable."""

import pytest

from incident_lab.exceptions import UsageError
from incident_lab.yaml_files import parse_yaml, read_limited


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (b"a: [1, 2\n", "routes.yaml: not valid YAML: "),
        (b"a: " + b"[" * 5000 + b"]" * 5000, "routes.yaml is nested too deeply"),
        (b"when: 2026-02-30\n", "routes.yaml: not valid YAML: "),  # YAML's own date parser refuses it
    ],
)
def test_unusable_yaml_is_one_line_naming_the_file(text, said):
    with pytest.raises(UsageError) as raised:
        parse_yaml(text, "routes.yaml", UsageError)
    assert str(raised.value).startswith(said) and "\n" not in str(raised.value)


def test_yaml_is_read_only_up_to_its_limit(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_bytes(b"a: 1\n" * 300)
    assert read_limited(path, 1500, "parameters file", UsageError) == b"a: 1\n" * 300
    with pytest.raises(UsageError, match=r"parameters file .* is larger than 1 KiB"):
        read_limited(path, 1024, "parameters file", UsageError)
    with pytest.raises(UsageError, match=r"cannot read parameters file .*missing.yaml: No such file"):
        read_limited(tmp_path / "missing.yaml", 1024, "parameters file", UsageError)
    assert parse_yaml(b"a: [1, {b: c}]\n", "x", UsageError) == {"a": [1, {"b": "c"}]}

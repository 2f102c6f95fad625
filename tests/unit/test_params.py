"""Probe parameters: typed, coerced from text, bounded, and checked before anything connects."""

from typing import Annotated

import pytest

from incident_lab import Bounds, OneOf, ParameterError, probe, refuted


@probe("unit.bounded", hypothesis="h", test="t", target="postgres", budget_seconds=5.0)
def bounded(
    target: object,
    *,
    window_seconds: Annotated[float, "how long to watch", Bounds(min=0.1, below_budget=True)] = 1.0,
    count: Annotated[int, "how many", Bounds(min=1, max=10)] = 3,
    method: Annotated[str, "verb", OneOf("GET", "HEAD")] = "GET",
    quiet: Annotated[bool, "say less"] = False,
    names: Annotated[list[str], "which"] = [],  # noqa: B006
):
    return refuted("nothing")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"count": "7"}, {"count": 7}),
        ({"quiet": "yes"}, {"quiet": True}),
        ({"quiet": "off"}, {"quiet": False}),
        ({"window_seconds": "2.5"}, {"window_seconds": 2.5}),
        ({"names": "a, b,,c"}, {"names": ["a", "b", "c"]}),
        ({"method": "head"}, {"method": "HEAD"}),
    ],
)
def test_text_from_a_command_line_is_coerced_to_the_declared_type(given, expected):
    bound = bounded.bind(given)
    assert {name: bound[name] for name in expected} == expected


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"count": 0}, "count must be at least 1, at most 10"),
        ({"count": 11}, "at most 10"),
        ({"count": 2.5}, "must be int"),
        ({"count": True}, "must be int"),
        ({"window_seconds": "nan"}, "must be float"),
        ({"window_seconds": 5}, "shorter than budget_seconds"),
        ({"window_seconds": 3, "budget_seconds": 2}, "shorter than budget_seconds"),
        ({"method": "POST"}, "one of GET, HEAD"),
        ({"quiet": "perhaps"}, "must be bool"),
        ({"names": [1]}, "must be list"),
        ({"budget_seconds": 0}, "at least 0.1"),
        ({"budget_seconds": 1e9}, "at most 3600"),
        ({"nonsense": 1}, "has no parameter 'nonsense'"),
    ],
)
def test_values_out_of_bounds_or_of_the_wrong_type_are_refused(given, message):
    with pytest.raises(ParameterError, match=message):
        bounded.bind(given)


def test_limits_are_described_as_the_catalogue_prints_them():
    limits = {param.name: param.describe_limits() for param in bounded.params}
    assert limits["window_seconds"] == "at least 0.1, shorter than budget_seconds"
    assert limits["method"] == "one of GET, HEAD"
    assert limits["quiet"] == ""


def test_a_parameter_without_annotation_or_default_is_a_programming_error():
    with pytest.raises(TypeError, match="needs Annotated"):

        @probe("unit.broken", hypothesis="h", test="t", target="postgres")
        def broken(target: object, *, count: int = 3):
            return refuted("nothing")

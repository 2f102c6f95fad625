"""A bad-input suite that keeps finding things: generated input for every parser that takes
outside input, asserting that each answers with its own error (a usage error for the
user's mistakes) and never another exception, and that no secret reaches any output."""

import json
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incident_lab import redaction
from incident_lab.archive.store import ArchivedRun
from incident_lab.cli import load_params_file, main
from incident_lab.exceptions import ArchiveError, ParameterError, TargetError, UsageError
from incident_lab.investigation.notebook_format import results_in
from incident_lab.investigation.params import resolve
from incident_lab.kinds import target_spec
from incident_lab.redaction import MASK, register_secret, scrub
from incident_lab.runner import default_registry

REGISTRY = default_registry()
SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)


@pytest.fixture(autouse=True)
def secrets_of_this_test_only(monkeypatch):
    """Secrets that parsing registers are forgotten after each test: they are process-wide."""
    monkeypatch.setattr(redaction, "_known_secrets", set(redaction._known_secrets))


reference_text = st.text(alphabet=string.printable + "é🔥\x00\x1b", max_size=60)


@SETTINGS
@given(kind=st.sampled_from(["postgres", "http", "llm"]), reference=reference_text)
def test_a_reference_is_a_target_or_a_target_error(kind, reference):
    try:
        target = REGISTRY.kind(kind).target(reference)
    except TargetError as error:
        assert str(error) and "\n" not in str(error).strip()
        return
    assert isinstance(target.label, str)


@SETTINGS
@given(name=st.text(max_size=10), value=reference_text)
def test_a_named_target_is_a_spec_or_a_target_error(name, value):
    try:
        spec = target_spec(name, value, REGISTRY.kind_names)
    except TargetError:
        return
    assert spec.reference and spec.name == name


@SETTINGS
@given(data=st.data())
def test_parameter_values_bind_or_are_parameter_errors(data):
    chosen = data.draw(st.sampled_from(list(REGISTRY)))
    names = [p.name for p in chosen.params]
    values = data.draw(st.dictionaries(st.sampled_from(names) | st.text(max_size=8), json_values, max_size=4))
    try:
        bound = chosen.bind(values)
    except ParameterError as error:
        assert str(error).startswith(("parameter ", "probe "))
        return
    assert set(bound) == set(names)


PARAMETER_NAMES = ["incident", "severity", "status", "date", "targets", "hypotheses", "commander", "nonsense"]


@SETTINGS
@given(values=st.dictionaries(st.sampled_from(PARAMETER_NAMES), json_values))
def test_investigation_parameters_resolve_or_are_usage_errors(values):
    try:
        resolve(values, REGISTRY)
    except UsageError as error:
        assert str(error)


@SETTINGS
@given(text=st.text(max_size=300) | st.binary(max_size=300).map(lambda b: b.decode("latin-1")))
def test_a_parameters_file_loads_as_a_mapping_or_is_a_usage_error(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("params") / "params.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogateescape")
    try:
        loaded = load_params_file(str(path))
    except UsageError:
        return
    assert isinstance(loaded, dict)


@SETTINGS
@given(document=json_values)
def test_any_results_json_is_a_run_or_is_reported_damaged(document):
    try:
        run = ArchivedRun.of(
            Path("/archive/incident/run-001"), document if isinstance(document, dict) else {}
        )
    except ArchiveError as error:
        assert "incident/run-001 is damaged" in str(error)
        return
    assert isinstance(run.results, list)


@SETTINGS
@given(cells=st.lists(st.dictionaries(st.sampled_from(["cell_type", "outputs"]), json_values), max_size=3))
def test_a_result_of_any_shape_is_read_or_refused_as_a_value_error(cells):
    try:
        results_in([{"cell_type": "code", **cell} if isinstance(cell, dict) else {} for cell in cells])
    except (KeyError, TypeError, ValueError, AttributeError):
        return


@settings(SETTINGS, max_examples=50)
@given(
    summary=st.one_of(st.just(None), st.text(max_size=30), json_values.map(json.dumps)),
    results=st.one_of(st.just(None), st.text(max_size=30), json_values.map(json.dumps)),
    run=st.sampled_from(["run-001", "run-002", "run-1000", "runx", ".staging"]),
)
def test_a_damaged_archive_never_crashes_list_or_show(tmp_path_factory, capsys, summary, results, run):
    archive = tmp_path_factory.mktemp("archive")
    folder = archive / "2026-11-28-checkout-failing" / run
    folder.mkdir(parents=True)
    if summary is not None:
        (folder / "summary.json").write_text(summary)
    if results is not None:
        (folder / "results.json").write_text(results)
    for command in (
        ["list"],
        ["show", "Checkout failing"],
        ["show", f"Checkout failing/{run}"],
        ["verify", "x"],
    ):
        code = main([*command, "--archive", str(archive)])
        captured = capsys.readouterr()
        assert code in (0, 1, 2) and "Traceback" not in captured.err


@SETTINGS
@given(secret=st.text(alphabet=string.ascii_letters + string.digits + "-_.~!$%", min_size=8, max_size=30),
       before=st.text(max_size=20), after=st.text(max_size=20))  # fmt: skip
def test_a_registered_secret_never_survives_scrubbing(secret, before, after):
    register_secret(secret)
    assert secret not in scrub(before + secret + after)


@SETTINGS
@given(
    name=st.sampled_from(["token", "access_token", "api_key", "apikey", "key", "sig", "signature", "secret",
                          "password", "auth", "X-Amz-Signature", "X-Amz-Credential", "X-Amz-Security-Token"]),
    value=st.text(alphabet=string.ascii_letters + string.digits + "%+/=-_", min_size=6, max_size=30),
    placement=st.sampled_from(["{url}", "error: GET {url} failed", '{{"link": "{url}"}}', "see <{url}>"]),
)  # fmt: skip
def test_a_credential_in_a_url_query_is_masked_wherever_the_url_appears(name, value, placement):
    url = f"https://api.example.com/v1/x?page=2&{name}={value}&q=1"
    masked = scrub(placement.format(url=url))
    assert value not in masked.replace(MASK, "") or value in "page=2&q=1"
    assert f"{name}={MASK}" in masked

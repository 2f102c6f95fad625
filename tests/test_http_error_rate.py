"""http.error_rate over real HTTP against the stand-in web service."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from incident_lab import ParameterError, Result, TargetError, run
from incident_lab.kinds.http.session import HttpTarget
from incident_lab.verdict import Verdict


def error_rate(standin, path: str, **params) -> Result:
    return run("http.error_rate", f"{standin.root}/{path}", params)


def counts(result: Result) -> dict[str, int]:
    return {row["outcome"]: row["count"] for row in result.table("status_counts").records()}


CASES = [
    ("http/ok", {}, False, {"200": 20}),
    ("http/flaky/4/every-fourth", {}, True, {"200": 15, "503": 5}),
    ("http/status/503", {}, True, {"503": 20}),
    ("http/status/404", {}, False, {"404": 20}),
    ("http/status/404", {"count_4xx": True}, True, {"404": 20}),
    ("slow/100/http/ok", {"requests": 6, "concurrency": 6}, False, {"200": 6}),
    ("slow/400/http/ok", {"requests": 4, "concurrency": 4, "timeout_seconds": 0.15}, True, {"timeout": 4}),
    ("hang/x", {"requests": 4, "concurrency": 4, "timeout_seconds": 0.2}, True, {"timeout": 4}),
    ("http/drop", {"requests": 4}, None, {"connection_error": 4}),
]


@pytest.mark.parametrize(
    ("path", "params", "verdict", "outcomes"),
    CASES,
    ids=[c[0] + ("+4xx" if c[1].get("count_4xx") else "") for c in CASES],
)
def test_each_web_case(provider_standin, path, params, verdict, outcomes):
    result = error_rate(provider_standin, path, **params)
    assert result.verdict.json is verdict, result.summary
    assert counts(result) == outcomes
    assert result.error is None
    assert Result.from_json(result.to_json()) == result


def test_flaky_service_metrics_and_samples(provider_standin):
    result = error_rate(provider_standin, "http/flaky/4/metrics")
    assert result.metric("error_rate") == 0.25
    assert "5 of 20 requests failed (25%, threshold 5%): 503 5 times" in result.summary
    samples = result.table("sample_errors").records()
    assert len(samples) == 5 and {s["detail"] for s in samples} == {"upstream unavailable"}
    p50, p95, top = (result.metric(f"latency_{name}_ms") for name in ("p50", "p95", "max"))
    assert 0 < p50 <= p95 <= top
    assert result.test.endswith("20 times, 5 at a time, timeout 5 s each, all within 20 s")


def test_latency_reflects_a_slow_service(provider_standin):
    result = error_rate(provider_standin, "slow/150/http/ok", requests=4, concurrency=4)
    assert result.verdict is Verdict.FALSE
    assert result.metric("latency_p50_ms") >= 150


def test_total_time_bounds_the_run_and_unfinished_requests_are_left_out(provider_standin):
    started = time.monotonic()
    result = error_rate(provider_standin, "slow/300/http/ok", requests=10, concurrency=1, total_seconds=1.0)
    assert time.monotonic() - started < 1.6
    assert counts(result)["200"] >= 2 and counts(result)["cut_off"] >= 5
    assert result.verdict is Verdict.FALSE
    assert "not finished within the total time" in result.summary


def test_refused_connections_everywhere_are_inconclusive():
    result = run("http.error_rate", "http://127.0.0.1:1/health", {"requests": 3})
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "connection refused" in result.summary


def test_only_safe_methods_are_sent(provider_standin):
    with pytest.raises(ParameterError, match="must be one of GET, HEAD"):
        error_rate(provider_standin, "http/ok", method="POST")
    assert error_rate(provider_standin, "http/ok", method="head", requests=3).verdict is Verdict.FALSE


def test_targets_parse_and_hide_credentials_and_query_values():
    assert (
        HttpTarget.parse("https://shop.example.com/health?token=abc").label
        == "https://shop.example.com/health?…"
    )
    for bad in ("shop.example.com", "ftp://shop.example.com", "https://user:canary-pw-91@shop.example.com/"):
        with pytest.raises(TargetError) as refused:
            HttpTarget.parse(bad)
        assert "canary-pw-91" not in str(refused.value)


def test_cli_json(provider_standin):
    script = Path(sys.executable).with_name("incident-lab")
    completed = subprocess.run(
        [
            str(script),
            "probe",
            "http.error_rate",
            "--target",
            f"http={provider_standin.root}/http/status/500",
            "--param",
            "requests=4",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    data = json.loads(completed.stdout)
    assert data["verdict"] is True and data["probe"] == "http.error_rate"


def test_a_token_in_the_url_reaches_no_output_and_no_archived_file(provider_standin, tmp_path):
    from incident_lab.archive.execute import run_investigation
    from incident_lab.archive.store import Archive

    url = f"{provider_standin.root}/http/ok/token-case?token=TopSecretTok123&page=2"
    result = run("http.error_rate", url, {"requests": 3})
    assert result.verdict is Verdict.FALSE
    assert "TopSecretTok123" not in result.to_json() + repr(result)
    values = {
        "incident": "Token",
        "severity": "Low",
        "targets": {"http": url},
        "hypotheses": [{"probe": "http.error_rate", "params": {"requests": 3}}],
    }
    outcome = run_investigation(values, Archive(tmp_path), progress=False)
    assert (
        outcome.results[0].verdict is Verdict.FALSE
    )  # the kernel got the whole URL, through its environment
    for path in (p for p in tmp_path.rglob("*") if p.is_file()):
        assert b"TopSecretTok123" not in path.read_bytes(), path

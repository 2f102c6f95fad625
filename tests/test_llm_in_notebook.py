"""The investigation notebook offers and runs the LLM and HTTP hypotheses."""

from incident_lab.archive.execute import run_investigation
from incident_lab.archive.store import Archive
from incident_lab.investigation.params import resolve
from incident_lab.runner import default_registry


def test_llm_and_http_targets_get_their_default_hypotheses():
    params = resolve(
        {
            "incident": "Agent down",
            "severity": "High",
            "targets": {"llm": "openai", "http": "https://shop.example.com/health"},
        },
        default_registry(),
    )
    assert [(h.probe, h.target) for h in params.hypotheses] == [
        ("llm.token_quota", "llm"),
        ("llm.provider_status", "llm"),
        ("http.error_rate", "http"),
    ]


def test_the_notebook_runs_llm_and_http_probes_into_the_report(provider_standin, monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-notebook-key-0123456789")
    values = {
        "incident": "Agent failing",
        "severity": "High",
        "targets": {
            "llm": provider_standin.reference("openai-tpm-429"),
            "http": f"{provider_standin.root}/http/flaky/4/notebook",
        },
        "hypotheses": [
            {"probe": "llm.token_quota"},
            {"probe": "llm.provider_status", "params": {"status_url": provider_standin.url("status-major")}},
            {"probe": "http.error_rate", "params": {"requests": 8}},
        ],
    }
    outcome = run_investigation(values, Archive(tmp_path), progress=False)
    assert [(r.probe, r.verdict.json) for r in outcome.results] == [
        ("llm.token_quota", True),
        ("llm.provider_status", True),
        ("http.error_rate", True),
    ]
    report = (outcome.run_dir / "report.html").read_text()
    assert "AI Agent token limit exceeded" in report
    files = [p for p in outcome.run_dir.rglob("*") if p.is_file()]
    assert all(b"sk-test-notebook-key-0123456789" not in p.read_bytes() for p in files)

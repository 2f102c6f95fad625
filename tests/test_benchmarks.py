"""Each benchmark in benchmarks/ runs at its tiny --quick size and produces its figures,
so that none of them rots. No timing is asserted: only that every step ran and that
what the benchmark checks besides time (exact blocking trees, the concurrency bound,
no heavy imports on the probe's path, every archived run listed, the same verdict from
a Prometheus window as from the bare script) holds."""

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load(name: str) -> ModuleType:
    # The scripts import their shared harness as a sibling module, as when run directly.
    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec = importlib.util.spec_from_file_location(f"benchmarks_{name}", BENCHMARKS / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCHMARKS))
    return module


def test_lock_probe_scale(capsys):
    benchmark = load("lock_probe_scale")
    figures = benchmark.run(**benchmark.QUICK)
    assert figures["machine"]["postgresql"].startswith("PostgreSQL")
    measured = figures["measured"]
    assert {m.shape.split(",")[0] for m in measured} == {
        "ACCESS EXCLUSIVE held",
        "migration queued",
        "row-lock chain 3 deep",
    }
    for m in measured:
        assert m.exact, m.shape
        assert all(m.server[name] > 0 and m.end_to_end[name] > 0 for name in benchmark.QUERIES)
    assert "pg_blocking_pids ÷ probe" in capsys.readouterr().out


def test_target_cost(capsys):
    benchmark = load("target_cost")
    figures = benchmark.run(**benchmark.QUICK)
    assert all(latency > 0 for latency in figures["latency_ms"].values())
    assert set(figures["added_percent"]) == {"server's share", "the probe"}
    assert all(sum(r["rounds"] for r in runs) >= 1 for runs in figures["monitored"].values())
    assert figures["server_cpu_per_round"] >= 0
    assert "Server CPU per probe round" in capsys.readouterr().out


def test_fan_out(capsys):
    benchmark = load("fan_out")
    figures = benchmark.run(**benchmark.QUICK)
    targets = benchmark.QUICK["targets"]
    for rows in figures["networks"].values():
        assert [row["concurrency"] for row in rows] == [1, *benchmark.QUICK["bounds"]]
        for row in rows:
            assert row["answered"] == targets
            assert row["samples"] > 0 and 1 <= row["peak"] <= row["concurrency"]
            assert row["cpu"]["probes"] > 0 and row["cpu"]["server"] > 0 and row["peak_mb"] > 0
    assert "speed-up" in capsys.readouterr().out


def test_end_to_end(capsys):
    benchmark = load("end_to_end")
    figures = benchmark.run(**benchmark.QUICK)
    assert all(seconds > 0 for times in figures["pipelines"].values() for seconds in times)
    cold = figures["cold_start"]
    assert cold["times"]["probe"] > 0
    assert cold["loaded"] == [], "the probe's path imports heavy libraries"
    assert any(name == "incident_lab.cli" for name, _ in cold["imports"])
    assert "Cold start" in capsys.readouterr().out


def test_archive_list(capsys):
    benchmark = load("archive_list")
    figures = benchmark.run(**benchmark.QUICK)
    assert figures["listed_runs"] == figures["runs"] == 10
    assert figures["kept_up"], "a run added or removed did not show in the listing"
    assert all(seconds > 0 for times in figures["times"].values() for seconds in times)
    assert "incident-lab list" in capsys.readouterr().out


def test_wait_events_cost(capsys):
    benchmark = load("wait_events_cost")
    figures = benchmark.run(**benchmark.QUICK)
    assert all(latency > 0 for latency in figures["latency_ms"].values())
    assert set(figures["added_percent"]) == {"once a second", "ten a second"}
    for runs in figures["monitored"].values():
        assert sum(r["samples"] for r in runs) >= 1 and all(r["sample_ms"] > 0 for r in runs)
    assert figures["server_cpu_per_sample"] >= 0 and figures["server_cpu_per_login"] >= 0
    assert "Server CPU per sample" in capsys.readouterr().out


def test_prometheus_window(capsys):
    benchmark = load("prometheus_window")
    figures = benchmark.run(**benchmark.QUICK)
    for side in ("ours", "bare"):
        (only,) = figures["runs"][side]
        assert only["series"] == benchmark.QUICK["series"] and only["verdict"] == "True"
        assert only["seconds"] > 0 and only["peak_mb"] > 0
    assert all(seconds > 0 for seconds in figures["fetch_seconds"].values())
    assert "ours ÷ bare" in capsys.readouterr().out


def test_alert_listen(capsys):
    benchmark = load("alert_listen")
    figures = benchmark.run(**benchmark.QUICK)
    assert all(seconds > 0 for times in figures["times"].values() for seconds in times)
    burst = figures["burst"]
    assert burst["answers"] == {202: benchmark.QUICK["burst"]}
    assert burst["lost"] == 0 and burst["completed"] + burst["archived_failed"] == burst["accepted"]
    assert burst["exit_code"] == 0
    assert "Webhook answers under a burst" in capsys.readouterr().out


def test_run_memory(capsys):
    benchmark = load("run_memory")
    figures = benchmark.run(**benchmark.QUICK)
    for arm, peaks in figures["arms"].items():
        (only,) = peaks
        assert only.command > 0 and only.kernel > 0 and only.seconds > 0, arm
    for arm in ("demo", "waiters"):
        archived = figures["arms"][arm][0].archived
        assert archived["report.html"] > 0 and archived["results.json"] > 0, arm
    assert figures["arms"]["demo"][0].server > 0, "the demo's embedded PostgreSQL was not seen"
    assert "Peak resident memory" in capsys.readouterr().out


def test_time_to_evidence(capsys):
    benchmark = load("time_to_evidence")
    figures = benchmark.run(**benchmark.QUICK)
    (only,) = figures["runs"]
    assert only["probes"] == 7, "the default PostgreSQL hypotheses"
    assert set(only["phases"]) == set(benchmark.PHASES)
    # The phases are cut from one run's timestamps, in order: together they are the run.
    assert abs(sum(only["phases"].values()) - only["wall"]) < 0.05 * only["wall"]
    assert all(seconds > 0 for seconds in only["phases"].values()), only["phases"]
    assert figures["bare"][0]["wall"] > 0 and figures["demo"][0] > 0 and figures["slowest_alone"]
    assert "The aims" in capsys.readouterr().out


def test_monitoring_cadence(capsys):
    benchmark = load("monitoring_cadence")
    figures = benchmark.run(**benchmark.QUICK)
    assert all(latency > 0 for latency in figures["latency_ms"].values())
    assert figures["watched_rounds"] and all(rounds >= 1 for rounds in figures["watched_rounds"])
    assert figures["server_cpu_per_round"] >= 0
    badges = figures["badges"]
    assert len({badge["probe"] for badge in badges}) == 7, "every hypothesis's badge left 'not run'"
    assert all(badge["ms"] >= 0 for badge in badges)
    lock = [badge["verdict"] for badge in badges if badge["probe"] == "postgres.lock_contention"]
    assert lock[0] == "True" and "False" in lock, "the lock probe's badge did not turn when the lock went"
    assert "answer to badge" in capsys.readouterr().out


def test_archive_list_s3(capsys):
    benchmark = load("archive_list_s3")
    figures = benchmark.run(**benchmark.QUICK)
    assert figures["listed_runs"] == figures["runs"] == 10
    assert figures["kept_up"], "a run added did not show in the listing"
    assert all(seconds > 0 for times in figures["times"].values() for seconds in times)
    assert "on moto's S3 server" in capsys.readouterr().out


def test_throughput(capsys):
    benchmark = load("throughput")
    figures = benchmark.run(**benchmark.QUICK)
    assert [wave["workers"] for wave in figures["waves"]] == list(benchmark.QUICK["workers"])
    assert figures["archived"] == figures["complete"] == figures["expected"] == 3
    assert all(wave["per_minute"] > 0 and wave["cpu_per_run"] > 0 for wave in figures["waves"])
    assert "investigations / minute" in capsys.readouterr().out

"""Fan-out: one probe against many targets (databases on one server, 100 by default,
1,000 with --targets 1000), sequential against `incident_lab.run_many` with a bounded
number of targets in flight, with the time and the process's peak memory of each.

While each fan-out runs, a separate process counts the server's `incident_lab`
sessions every few milliseconds: the most it ever sees must not exceed the bound.

On loopback a probe round is pure CPU (login, query, analysis), so two cores cap any
speed-up near 2x. Shards are normally across a network, where a round is mostly
waiting on round trips; the second half runs through a local proxy that delays every
packet by half of a 20 ms round trip (a neighbouring availability zone) to show that.
Beside each fan-out, the CPU it cost per target (this process's probes, the server's
backends, the proxy) and so the most speed-up two cores allow: sequential wall time
over CPU time per core. With `--targets 1000 --bounds 64 --network-only`, the fleet
of issue 15 (the aim: 64 in flight at least 30x faster than sequential).

    .venv/bin/python benchmarks/fan_out.py            # 100 targets, 1/4/8/16/32 in flight
    .venv/bin/python benchmarks/fan_out.py --targets 1000 --bounds 64 --network-only
    .venv/bin/python benchmarks/fan_out.py --quick    # a smoke test
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg

from incident_lab import run_many
from incident_lab.kinds.postgres.session import APPLICATION_NAME
from incident_lab.verdict import Verdict

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (
    Server,
    embedded_server,
    machine,
    peak_memory_mb,
    print_machine,
    print_table,
    process_cpu_seconds,
    ratio,
    reset_peak_memory,
    server_cpu_seconds,
)

PROBE_ID = "postgres.lock_contention"
ROUND_TRIP_MS = 20.0
CPU_PARTS = ("probes", "server", "proxy")


@contextlib.contextmanager
def counting_sessions(dsn: str) -> Iterator[dict[str, int]]:
    """The most `incident_lab` sessions seen at once while the block runs."""
    counter = subprocess.Popen(
        [sys.executable, __file__, "--count-sessions", dsn],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert counter.stdout is not None and counter.stdin is not None
    counter.stdout.readline()  # connected and counting
    seen: dict[str, int] = {}
    try:
        yield seen
    finally:
        out, _ = counter.communicate("stop\n", timeout=30)
        seen.update(json.loads(out))


# Tiny sizes for --quick and the test suite: every step runs; the figures mean nothing.
QUICK: dict[str, Any] = {"targets": 4, "bounds": (2,), "round_trip_ms": 4.0}


def count_sessions(dsn: str) -> None:
    """Poll pg_stat_activity until stdin says stop; print the peak and the samples."""
    import selectors

    peak, samples = 0, 0
    with psycopg.connect(dsn, autocommit=True, application_name="benchmark_counter") as connection:
        print("counting", flush=True)
        watch = selectors.DefaultSelector()
        watch.register(sys.stdin, selectors.EVENT_READ)
        while not watch.select(timeout=0.005):
            row = connection.execute(
                "SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE application_name = %s",
                [APPLICATION_NAME],
            ).fetchone()
            peak, samples = max(peak, int(row[0]) if row else 0), samples + 1
    print(json.dumps({"peak": peak, "samples": samples}))


def proxy(listen_port: int, target_port: int, delay: float) -> None:
    """Forward TCP to the server, each packet held for `delay` seconds each way."""

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                await asyncio.sleep(max(0.0, due - loop.time()))
                if not data:
                    writer.close()
                    return
                writer.write(data)
                await writer.drain()

        sender = asyncio.create_task(deliver())
        while data := await reader.read(65536):
            queue.put_nowait((loop.time() + delay, data))
        queue.put_nowait((loop.time() + delay, b""))
        await sender

    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", target_port)
        with contextlib.suppress(ConnectionError):
            await asyncio.gather(pipe(client_reader, server_writer), pipe(server_reader, client_writer))

    async def serve() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", listen_port)
        print("listening", flush=True)
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


@contextlib.contextmanager
def delayed(port: int, round_trip_ms: float) -> Iterator[tuple[int, int]]:
    """The port of a delaying proxy to `port`, and the proxy's process id."""
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        listen_port = int(probe_socket.getsockname()[1])
    relay = subprocess.Popen(
        [sys.executable, __file__, "--proxy", str(listen_port), str(port), str(round_trip_ms / 2000)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert relay.stdout is not None
        relay.stdout.readline()  # listening
        yield listen_port, relay.pid
    finally:
        relay.terminate()
        relay.wait(timeout=10)


def cpu_now(server: Server, relay: int | None) -> dict[str, float]:
    """CPU used so far by this process (the probes), the server, and the proxy if any."""
    return {
        "probes": time.process_time(),
        "server": server_cpu_seconds(server),
        "proxy": process_cpu_seconds(relay) if relay else 0.0,
    }


def fan_out(
    targets: list[str], concurrency: int, counter_dsn: str, server: Server, relay: int | None
) -> dict[str, Any]:
    with counting_sessions(counter_dsn) as seen:
        reset_peak_memory()
        before = cpu_now(server, relay)
        started = time.perf_counter()
        results = run_many(PROBE_ID, targets, concurrency=concurrency)
        wall = time.perf_counter() - started
        after = cpu_now(server, relay)
        peak = peak_memory_mb()
    answered = sum(result.verdict is not Verdict.INCONCLUSIVE for result in results)
    cpu = {name: after[name] - before[name] for name in before}
    return {
        "concurrency": concurrency,
        "seconds": wall,
        "answered": answered,
        "peak_mb": peak,
        "cpu": cpu,
        **seen,
    }


def run(
    targets: int = 100,
    bounds: Sequence[int] = (4, 8, 16, 32),
    round_trip_ms: float = ROUND_TRIP_MS,
    network_only: bool = False,
) -> dict[str, Any]:
    networks: dict[str, list[dict[str, Any]]] = {}
    with embedded_server(max_connections=max(100, targets + max(bounds) + 20)) as server:
        facts = machine(server.version())
        names = [f"shard_{number:03d}" for number in range(targets)]
        for name in names:
            server.create_database(name)
        admin = server.socket_dsn()
        arms = [("loopback", server.postgres.port)] if not network_only else []
        for label, port in [*arms, (f"{round_trip_ms:g} ms round trip", None)]:
            with contextlib.ExitStack() as stack:
                relay = None
                if port is None:
                    port, relay = stack.enter_context(delayed(server.postgres.port, round_trip_ms))
                dsns = [server.tcp_dsn(name, port) for name in names]
                run_many(PROBE_ID, dsns[:2], concurrency=2)  # load the probes and warm up, untimed
                print(f"  {label}: sequential …", file=sys.stderr)
                rows = [fan_out(dsns, 1, admin, server, relay)]
                for bound in bounds:
                    print(f"  {label}: {bound} in flight …", file=sys.stderr)
                    rows.append(fan_out(dsns, bound, admin, server, relay))
                networks[label] = rows
    print_machine(facts)
    cores = os.cpu_count() or 1
    table = []
    for label, rows in networks.items():
        sequential = rows[0]["seconds"]
        for row in rows:
            table.append(
                [
                    label,
                    "sequential" if row["concurrency"] == 1 else f"run_many, {row['concurrency']} in flight",
                    f"{row['seconds']:.2f} s",
                    ratio(sequential, row["seconds"]),
                    f"{row['answered']}/{targets}",
                    f"{row['peak']} ({row['samples']} samples)",
                    "yes" if row["peak"] <= row["concurrency"] else "NO",
                    f"{row['peak_mb']:.0f} MB",
                    " + ".join(f"{row['cpu'][part] * 1000 / targets:.1f}" for part in CPU_PARTS),
                    ratio(sequential, sum(row["cpu"].values()) / cores),
                ]
            )
    print_table(
        [
            "network",
            "how",
            "wall time",
            "speed-up",
            "answered",
            "most incident_lab sessions seen",
            "within bound",
            "peak memory",
            "CPU ms per target (probes + server + proxy)",
            "most speed-up the CPU allows",
        ],
        table,
        f"postgres.lock_contention against {targets} databases",
    )
    return {"machine": facts, "networks": networks}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for the test suite")
    parser.add_argument("--targets", type=int, default=100)
    parser.add_argument(
        "--bounds", type=int, nargs="+", default=[4, 8, 16, 32], help="targets in flight to try"
    )
    parser.add_argument("--network-only", action="store_true", help="only through the delaying proxy")
    parser.add_argument("--count-sessions", metavar="DSN", help=argparse.SUPPRESS)
    parser.add_argument("--proxy", nargs=3, metavar=("LISTEN", "TARGET", "DELAY"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.count_sessions:
        count_sessions(args.count_sessions)
    elif args.proxy:
        proxy(int(args.proxy[0]), int(args.proxy[1]), float(args.proxy[2]))
    elif args.quick:
        run(**QUICK)
    else:
        run(targets=args.targets, bounds=args.bounds, network_only=args.network_only)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The public way to run probes: by id, against target references, one or many."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from incident_lab.exceptions import UsageError
from incident_lab.kinds import Target
from incident_lab.probe import Probe, run_probe
from incident_lab.registry import Registry, load_registry
from incident_lab.result import Result


@functools.cache
def default_registry() -> Registry:
    return load_registry()


def run(
    probe_id: str,
    target: str,
    params: Mapping[str, Any] | None = None,
    *,
    hypothesis: str | None = None,
    registry: Registry | None = None,
) -> Result:
    """Run probe `probe_id` against `target` (a reference of the probe's target kind).

    Raises `UsageError` for an unknown id, bad parameters or a malformed target, before
    anything connects; every failure after that is an inconclusive result.
    """
    catalogue = registry or default_registry()
    chosen = catalogue.get(probe_id)
    bound = chosen.bind(params)
    return run_probe(chosen, catalogue.kind(chosen.target_kind).target(target), bound, hypothesis=hypothesis)


def run_many(
    probe_id: str,
    targets: Sequence[str],
    params: Mapping[str, Any] | None = None,
    *,
    concurrency: int = 16,
    registry: Registry | None = None,
) -> list[Result]:
    """One result per target (shards, cells, replicas), in the order given, with at most
    `concurrency` targets probed at once."""
    catalogue = registry or default_registry()
    chosen = catalogue.get(probe_id)
    kind = catalogue.kind(chosen.target_kind)
    return run_fleet(
        chosen, [("", kind.target(target)) for target in targets], params, concurrency=concurrency
    )


def run_fleet(
    probe: Probe, targets: Sequence[tuple[str, Target]], params: Mapping[str, Any] | None, *, concurrency: int
) -> list[Result]:
    """`probe` on each named target, at most `concurrency` at once, results in the targets'
    order; a dead or slow target costs at most the probe's budget, the others go on."""
    if concurrency < 1:
        raise UsageError(f"concurrency must be at least 1, got {concurrency}")
    bound = probe.bind(params)
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="incident_lab") as pool:
        return list(pool.map(lambda named: run_probe(probe, named[1], bound, target_name=named[0]), targets))

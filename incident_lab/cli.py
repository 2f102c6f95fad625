"""The `incident-lab` command.

Usage errors (unknown probe, bad parameter, malformed target) print one line on
stderr and exit 2; a probe that ran exits 0 whatever its verdict. Heavy libraries
are imported inside the subcommands that need them, to keep start-up fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any, NoReturn, TextIO

from incident_lab.exceptions import IncidentLabError, UsageError
from incident_lab.redaction import scrub

EXIT_USAGE = 2


def say(*parts: object, file: TextIO | None = None, flush: bool = False) -> None:
    """print, but what reaches a terminal carries no control character of anyone else's."""
    from incident_lab.render.text import terminal_safe

    print(*(terminal_safe(str(part)) for part in parts), file=file or sys.stdout, flush=flush)


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line naming the problem."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def parse_assignments(items: Sequence[str], what: str) -> dict[str, str]:
    from incident_lab.kinds import split_assignment

    return dict(split_assignment(item, what) for item in items)


def command_probes(args: argparse.Namespace) -> int:
    from incident_lab.registry import load_registry

    for probe in load_registry(args.probe_path):
        say(f"{probe.id}  [{probe.target_kind}]")
        say(f"    {probe.hypothesis}")
        say(f"    test: {probe.test}")
        for param in probe.params:
            limits = f" ({param.describe_limits()})" if param.describe_limits() else ""
            say(f"    --param {param.name}={param.default!r}  ({param.type_name}) {param.doc}{limits}")
        say()
    return 0


def command_kinds(args: argparse.Namespace) -> int:
    from incident_lab.registry import load_registry

    registry = load_registry(args.probe_path)
    for kind, source in registry.kinds():
        probes = [probe.id for probe in registry if probe.target_kind == kind.name]
        defaults = [default.probe for default in kind.default_hypotheses]
        say(f"{kind.name}  ({source})")
        say(f"    {kind.description}")
        say(f"    probes: {', '.join(probes) or 'none'}")
        say(f"    default hypotheses: {', '.join(defaults) or 'none'}")
        say()
    return 0


def command_patterns(args: argparse.Namespace) -> int:
    from incident_lab.registry import load_registry
    from incident_lab.render.patterns import pattern_text

    catalogue = load_registry(args.probe_path).patterns
    if args.id:
        pattern = catalogue.get(args.id)
        say(json.dumps(pattern.to_dict(), ensure_ascii=True) if args.json else pattern_text(pattern))
        return 0
    if args.json:
        say(json.dumps([pattern.to_dict() for pattern in catalogue], ensure_ascii=True))
        return 0
    for pattern in catalogue:
        say(pattern.id)
        say(f"    {pattern.title}")
        say(f"    deciding probes: {', '.join(pattern.deciding_probes)}")
        say()
    return 0


def probe_targets(texts: Sequence[str], kind: str, registry: Any) -> list[tuple[str, str]]:
    """`--target` of `probe`, repeatable: `NAME=[KIND:]REFERENCE` (a group of references
    joined by commas counts as its members), or a bare URI; their names and references."""
    from incident_lab.exceptions import TargetError
    from incident_lab.investigation.params import target_group
    from incident_lab.kinds import split_assignment

    named = []
    for text in texts:
        if "://" in text.partition("=")[0]:
            named.append(("", text.strip()))
            continue
        for spec in target_group(*split_assignment(text, "--target"), registry):
            if spec.kind and spec.kind != kind:
                raise TargetError(f"this probe needs a {kind} target, but target {spec.name} is {spec.kind}")
            named.append((spec.name, spec.reference))
    return named


def command_probe(args: argparse.Namespace) -> int:
    from incident_lab.investigation.fleet import FleetRow
    from incident_lab.registry import load_registry
    from incident_lab.render.text import format_result, format_table
    from incident_lab.runner import run_fleet

    registry = load_registry(args.probe_path)
    chosen = registry.get(args.id)
    given: dict[str, Any] = parse_assignments(args.param, "--param")
    if args.started_at:
        from incident_lab.investigation.params import incident_start, with_incident_start

        given = with_incident_start(chosen, given, incident_start(args.started_at))
    params = chosen.bind(given)
    kind = registry.kind(chosen.target_kind)
    named = [
        (name, kind.target(reference, name))
        for name, reference in probe_targets(args.target, kind.name, registry)
    ]
    results = run_fleet(chosen, named, params, concurrency=args.concurrency)
    if args.json:  # one object per line, as ASCII: no database's control character reaches a terminal raw
        for result in results:
            say(json.dumps(result.to_dict(), ensure_ascii=True))
    elif len(results) == 1:
        say(format_result(results[0], show_test=args.show_test))
    else:
        rows = [[r.target_name or r.target, r.label, r.summary] for r in results]
        say(format_table(["target", "verdict", "summary"], rows))
        by_target = {r.target_name or r.target: r for r in results}
        row = FleetRow.of(chosen.hypothesis, chosen.id, by_target, dict.fromkeys(by_target, 0))
        if row.sentence():
            say(row.sentence())
    return 0


def investigation_values(args: argparse.Namespace, registry: Any = None) -> dict[str, Any]:
    """Parameters from the alert (`--alert`) and its route (`--routes`), then from
    `-f params.yaml`, then from the flags given: each overrides the one before (targets
    are merged, name by name)."""
    if hasattr(args, "alert") and args.routes and not args.alert:  # `listen` routes the alerts it hears
        raise UsageError("--routes chooses an alert's targets and hypotheses: give the alert with --alert")
    values: dict[str, Any] = alert_file_values(args, registry) if getattr(args, "alert", None) else {}
    if args.params_file:
        given = load_params_file(args.params_file)
        targets = {**dict(values.get("targets") or {}), **dict(given.get("targets") or {})}
        values.update(given)
        if targets:
            values["targets"] = targets
    named = ("incident", "severity", "status", "commander", "date", "started_at")
    flags = {name: getattr(args, name, None) for name in named}  # `listen` has none of them
    values.update({name: value for name, value in flags.items() if value is not None})
    if args.hypothesis:
        values["hypotheses"] = args.hypothesis
    if args.target:
        values["targets"] = {
            **dict(values.get("targets") or {}),
            **parse_assignments(args.target, "--target"),
        }
    return values


def alert_file_values(args: argparse.Namespace, registry: Any) -> dict[str, Any]:
    """The investigation an alert payload (a file, or `-` for stdin) opens, through its route."""
    from incident_lab.investigation.alerts import MAX_NOTIFICATION_BYTES, decode_notification

    try:
        if args.alert == "-":
            raw = sys.stdin.buffer.read(MAX_NOTIFICATION_BYTES + 1)
        else:
            with open(args.alert, "rb") as handle:
                raw = handle.read(MAX_NOTIFICATION_BYTES + 1)
    except OSError as error:
        raise UsageError(f"cannot read alert file {args.alert}: {error.strerror}") from None
    return values_from_alert(decode_notification(raw), "", load_routes(args.routes, registry), registry)


def load_routes(path: str | None, registry: Any) -> Any:
    """The routing file, its probes checked; with none, a routing of no routes."""
    from incident_lab.investigation.routing import Routing, load_routing

    if not path:
        return Routing()
    routing = load_routing(path)
    routing.check(registry, path)
    return routing


def values_from_alert(document: Any, source: str, routing: Any, registry: Any) -> dict[str, Any]:
    """An alert's investigation parameters: what the alert says, and its route's targets and hypotheses."""
    from incident_lab.investigation.alerts import alert_values, parse_alert

    alert = parse_alert(document, source, routing.severity_map)
    values = alert_values(alert)
    route = routing.route_for(alert)
    if route is not None:
        values.update(route.values(alert, registry))
    return values


MAX_PARAMS_FILE_BYTES = 1024 * 1024
MAX_PARAMS_DEPTH = 32


def load_params_file(path: str) -> dict[str, Any]:
    """A parameters file: at most `MAX_PARAMS_FILE_BYTES`, nested at most `MAX_PARAMS_DEPTH`
    deep (an incident's parameters are far smaller; anything bigger is a mistake or worse)."""
    from incident_lab.yaml_files import parse_yaml, read_limited

    text = read_limited(path, MAX_PARAMS_FILE_BYTES, "parameters file", UsageError)
    loaded = parse_yaml(text, f"parameters file {path}", UsageError)
    if not isinstance(loaded, dict):
        raise UsageError(f"parameters file {path} must hold a mapping of parameter names to values")
    if nesting(loaded) > MAX_PARAMS_DEPTH:
        raise UsageError(f"parameters file {path} is nested more than {MAX_PARAMS_DEPTH} levels deep")
    return loaded


def nesting(value: Any) -> int:
    """How deep mappings and lists nest in `value` (without recursing, whatever the depth)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        stack += [(child, depth + 1) for child in children if isinstance(child, dict | list)]
    return deepest


def print_outcome(outcome: Any, archive: Any) -> int:
    from incident_lab.render.text import format_table
    from incident_lab.wording import hypothesis_letter

    rows = [[hypothesis_letter(i), r.hypothesis, r.label, r.summary] for i, r in enumerate(outcome.results)]
    say(format_table(["", "hypothesis", "verdict", "summary"], rows), file=sys.stderr)
    if not outcome.completed:
        say(
            f"incident-lab: the run failed and was archived as failed: {outcome.error.splitlines()[0]}",
            file=sys.stderr,
        )
    say(archive.location(outcome.report))
    return 0 if outcome.completed else 1


def command_run(args: argparse.Namespace) -> int:
    from incident_lab.archive.execute import run_investigation
    from incident_lab.archive.remote import open_archive
    from incident_lab.registry import load_registry

    registry = load_registry(args.probe_path)
    archive = open_archive(args.archive)
    share_probe_path(args.probe_path)
    values = investigation_values(args, registry)
    return print_outcome(run_investigation(values, archive, registry=registry), archive)


def share_probe_path(folders: Sequence[str]) -> None:
    """The notebook's kernel loads the same probes: it inherits INCIDENT_LAB_PROBE_PATH."""
    import os

    from incident_lab.registry import PATH_VARIABLE

    paths = [p for p in os.environ.get(PATH_VARIABLE, "").split(os.pathsep) if p]
    os.environ[PATH_VARIABLE] = os.pathsep.join([*paths, *(os.path.abspath(f) for f in folders)])


def command_demo(args: argparse.Namespace) -> int:
    from incident_lab.archive.remote import open_archive
    from incident_lab.demo import run_demo

    say(
        "Starting an embedded PostgreSQL with a shop database; a migration holds a lock on orders…",
        file=sys.stderr,
    )
    archive = open_archive(args.archive)
    return print_outcome(run_demo(archive), archive)


def command_list(args: argparse.Namespace) -> int:
    from incident_lab.archive.remote import open_archive

    archive = open_archive(args.archive)
    listed = []
    for folder in archive.incident_folders():
        runs = archive.runs(folder)
        if runs:
            listed.append((max(r.finished_at for r in runs), folder, runs))
    if not listed:
        say(f"no investigations in {archive.name}")
    for _, folder, runs in sorted(listed, key=lambda item: item[0], reverse=True):
        readable = [run for run in runs if not run.damaged]
        latest = readable[-1].data if readable else {}
        say(f"{folder.name}  ({latest.get('severity', '?')}, {latest.get('status', '?')})")
        for run in reversed(runs):
            if run.damaged:
                say(f"  {run.run}  damaged: {run.damaged}")
                continue
            verdicts = run.data.get("verdicts", {})
            counts = "  ".join(
                f"{label} {verdicts.get(label, 0)}" for label in ("True", "False", "Inconclusive")
            )
            say(
                f"  {run.run}  {run.finished_at[:16].replace('T', ' ')} UTC  "
                f"{run.data.get('outcome', 'unknown'):<9}  {counts}"
            )
    return 0


def command_show(args: argparse.Namespace) -> int:
    from incident_lab.archive.remote import open_archive
    from incident_lab.render.text import format_table
    from incident_lab.wording import hypothesis_letter

    archive = open_archive(args.archive)
    folder, run = archive.find(args.incident)
    passed_over = [
        f"{r.run} is damaged: {r.damaged}" for r in archive.runs(folder) if r.run == run and r.damaged
    ]
    record = archive.run_record(folder / run) if run else archive.latest_readable(folder, passed_over)
    for damage in passed_over:
        say(f"note: {damage}", file=sys.stderr)
    run_dir = record.run_dir
    incident = record.incident
    state = f"{incident['severity']}, {incident['status']}, {run_dir.name} {record.outcome}"
    say(f"{incident['incident']} — {state}")
    rows = [[hypothesis_letter(i), r.hypothesis, r.label, r.summary] for i, r in enumerate(record.results)]
    say(format_table(["", "hypothesis", "verdict", "summary"], rows))
    show_patterns(record.patterns)
    say(archive.location(run_dir / "report.html"))
    return 0


def show_patterns(matches: Sequence[Any]) -> None:
    """A run's failure patterns as archived: matched ones with their evidence, then ruled out."""
    from incident_lab.render.patterns import match_when, shown_matches

    shown, still_open = shown_matches(matches)
    if not matches:
        return
    say("failure patterns:")
    for match in shown:
        when = match_when(match)
        say(f"  {match.status}: {match.pattern} — {match.title}" + (f" ({when})" if when else ""))
        for citation in match.evidence if match.matched_ever else match.evidence[:1]:
            say(f"      {citation.text()}")
    if still_open:
        say(f"  {len(still_open)} more open: {', '.join(match.pattern for match in still_open)}")


def command_verify(args: argparse.Namespace) -> int:
    """Exit 0 when every run named is as it was archived; 1 naming what changed otherwise."""
    from incident_lab.archive.manifest import verify_run
    from incident_lab.archive.remote import open_archive

    archive = open_archive(args.archive, local_only="incident-lab verify")
    folder, run = archive.find(args.incident)
    names = [run] if run else [summary.run for summary in archive.runs(folder)]
    if not names:
        raise UsageError(f"incident {folder.name} has no runs to verify")
    intact = True
    for name in names:
        checked = verify_run(folder / name)
        intact = intact and checked.intact
        if checked.problem:
            say(f"{folder.name}/{name}: {checked.problem}")
        elif checked.intact:
            say(f"{folder.name}/{name}: intact ({checked.checked} files)")
        else:
            found = [("changed", checked.changed), ("missing", checked.missing), ("added", checked.added)]
            say(
                f"{folder.name}/{name}: "
                + "; ".join(f"{what} {', '.join(files)}" for what, files in found if files)
            )
    return 0 if intact else 1


def command_new(args: argparse.Namespace) -> int:
    from incident_lab.archive.execute import prepare_notebook
    from incident_lab.archive.remote import open_archive
    from incident_lab.registry import load_registry

    share_probe_path(args.probe_path)
    archive = open_archive(args.archive, local_only="incident-lab new")
    registry = load_registry(args.probe_path)
    values = investigation_values(args, registry)
    notebook, withheld = prepare_notebook(values, archive, registry, args.probe_path)
    for name, advice in withheld.items():
        say(f"note: target {name}: its secret was not written to the notebook; {advice}", file=sys.stderr)
    say(f"{jupyter()} lab {notebook}")
    return 0


def jupyter() -> str:
    from pathlib import Path

    return str(Path(sys.executable).with_name("jupyter"))


def command_lab(args: argparse.Namespace) -> int:
    import os

    from incident_lab.archive.remote import open_archive

    folder, _ = open_archive(args.archive, local_only="incident-lab lab").find(args.incident)
    notebook = folder / "investigation.ipynb"
    if not notebook.exists():
        raise UsageError(f"{folder.name} has no notebook: prepare one with incident-lab new")
    share_probe_path(args.probe_path)  # the kernels JupyterLab starts inherit it
    # JupyterLab serves the folder it starts in: the incident's, so the notebook and its runs are at hand.
    os.chdir(folder)
    os.execv(jupyter(), [jupyter(), "lab", notebook.name])
    return 0


def command_watch(args: argparse.Namespace) -> int:
    from incident_lab.archive.remote import open_archive
    from incident_lab.durations import parse_duration
    from incident_lab.registry import load_registry
    from incident_lab.watch import open_latest, watch

    every = parse_duration(args.every)
    if args.until_clear < 1 or args.max_rounds < 1:
        raise UsageError("--until-clear and --max-rounds must be at least 1")
    share_probe_path(args.probe_path)
    archive = open_archive(args.archive)
    registry = load_registry(args.probe_path)
    registry.check_patterns()  # a broken pattern file stops the watch now, not when it archives
    investigation = open_latest(args.incident, archive, registry, parse_assignments(args.target, "--target"))
    outcome = watch(
        investigation,
        archive,
        every_seconds=every,
        until_clear=args.until_clear,
        max_rounds=args.max_rounds,
        say=lambda line: say(line, flush=True),
    )
    ending = "cleared" if outcome.cleared else "interrupted" if outcome.interrupted else "stopped"
    say(f"{ending} after {outcome.rounds} rounds; archived with every round:", file=sys.stderr)
    say(outcome.archived.report)
    return 0 if outcome.archived.completed else 1


# What `listen` takes from the alert, never from its own options: each alert group is its own incident.
FROM_THE_ALERT = ("incident", "severity", "date", "started_at", "service", "links", "alert")


def command_listen(args: argparse.Namespace) -> int:
    import os

    from incident_lab.archive.remote import open_archive
    from incident_lab.listen import (
        TOKEN_VARIABLE,
        Settings,
        is_loopback,
        parse_bind,
        secrets_from_environment,
        serve,
    )
    from incident_lab.registry import load_registry

    host, port = parse_bind(args.bind)
    token = os.environ.get(TOKEN_VARIABLE) or None
    if args.no_auth and not is_loopback(host):
        raise UsageError(f"--no-auth is only for a loopback address, not {host}: set {TOKEN_VARIABLE}")
    if token is None and not args.no_auth:
        return fail(
            f"{TOKEN_VARIABLE} is not set: set it to the token senders give (or --no-auth on 127.0.0.1)",
            1,
        )
    if args.workers < 1 or args.queue < 1:
        raise UsageError("--workers and --queue must be at least 1")
    registry = load_registry(args.probe_path)
    registry.check_patterns()
    share_probe_path(args.probe_path)
    default_route = investigation_values(args, registry)
    taken = sorted(set(default_route) & set(FROM_THE_ALERT))
    if taken:
        raise UsageError(f"listen takes {', '.join(taken)} from each alert, not from -f or the flags")
    if default_route:  # a typo in --target or --hypothesis stops it now, not at the first alert
        from incident_lab.archive.execute import prepare

        prepare({**default_route, "incident": "listen", "severity": "High"}, registry)
    settings = Settings(
        archive=open_archive(args.archive),
        registry=registry,
        routing=load_routes(args.routes, registry),
        default_route=default_route,
        token=None if args.no_auth else token,
        secrets=secrets_from_environment(os.environ),
        probe_path=tuple(os.path.abspath(folder) for folder in args.probe_path),
        workers=args.workers,
        queue_size=args.queue,
        grace_seconds=args.grace,
    )
    return serve(settings, host, port, lambda line: say(line, file=sys.stderr, flush=True))


def add_route_options(parser: argparse.ArgumentParser) -> None:
    """What `listen` investigates when no route of --routes matches: as `run` takes it."""
    parser.add_argument(
        "--hypothesis",
        action="append",
        default=[],
        metavar="ID[:NAME=VALUE,…]",
        help="a probe to test for every alert no route matches (repeatable)",
    )
    parser.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="NAME=[KIND:]REF",
        help="a target for every alert no route matches (repeatable)",
    )
    parser.add_argument(
        "-f", dest="params_file", metavar="PARAMS.yaml", help="the default route as a parameters file"
    )
    add_routes_option(parser)


def add_investigation_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--incident", help="the incident's name")
    parser.add_argument("--severity", help="Critical, High, Medium or Low")
    parser.add_argument("--status", help="Investigating, Identified, Monitoring or Resolved")
    parser.add_argument("--commander", help="the incident commander, e.g. @alice")
    parser.add_argument("--date", help="YYYY-MM-DD (default: today, UTC)")
    add_started_at_option(parser)
    parser.add_argument(
        "--hypothesis",
        action="append",
        default=[],
        metavar="ID[:NAME=VALUE,…]",
        help="a probe to test (repeatable; default: the usual ones for the targets)",
    )
    parser.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="NAME=[KIND:]REF",
        help="a target, e.g. postgres=service=shop or primary=postgres:service=shop (repeatable)",
    )
    parser.add_argument("-f", dest="params_file", metavar="PARAMS.yaml", help="parameters from a YAML file")


def add_alert_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--alert",
        metavar="FILE",
        help="start from an alert: an Alertmanager, Grafana or PagerDuty webhook payload (- for stdin); "
        "it gives the incident's name, severity, start, service and links, the flags override it",
    )
    add_routes_option(parser)


def add_routes_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--routes",
        metavar="ROUTES.yaml",
        help="a routing file: which targets and hypotheses an alert's labels open",
    )


def add_started_at_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--started-at",
        metavar="TIME",
        help="when the incident started, ISO 8601 (e.g. 2026-11-28T00:00:00Z; default: 30 minutes ago); "
        "probes that look at a window look around it",
    )


def add_archive_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--archive",
        metavar="DIR|URL",
        help="the archive folder, or a URL such as s3://bucket/prefix "
        "(default: $INCIDENT_LAB_ARCHIVE or ./incident-archive)",
    )


def build_parser() -> Parser:
    parser = Parser(prog="incident-lab", description="Test incident hypotheses against live systems.")
    parser.add_argument(
        "--probe-path",
        action="append",
        default=[],
        metavar="DIR",
        help="a folder of your own probe modules (repeatable)",
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    catalogue = commands.add_parser("probes", help="list the probe catalogue")
    catalogue.set_defaults(handler=command_probes)

    patterns = commands.add_parser("patterns", help="list the failure patterns, or print one")
    patterns.add_argument("id", nargs="?", help="a pattern id, e.g. postgres.recent-migration-trigger")
    patterns.add_argument("--json", action="store_true", help="print the pattern(s) as JSON")
    patterns.set_defaults(handler=command_patterns)

    kinds = commands.add_parser("kinds", help="list the target kinds and where each came from")
    kinds.set_defaults(handler=command_kinds)

    one = commands.add_parser("probe", help="run one probe and print its verdict")
    one.add_argument("id", help="probe id, e.g. postgres.lock_contention")
    one.add_argument(
        "--target",
        required=True,
        action="append",
        help="NAME=[KIND:]REFERENCE, e.g. postgres=service=shop (repeatable: one row per target)",
    )
    one.add_argument(
        "--concurrency",
        type=int,
        default=16,
        metavar="N",
        help="the most targets probed at once (default 16)",
    )
    one.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    one.add_argument("--json", action="store_true", help="print exactly one result JSON object")
    one.add_argument("--show-test", action="store_true", help="also print the exact test (SQL) run")
    add_started_at_option(one)
    one.set_defaults(handler=command_probe)

    run = commands.add_parser("run", help="run the investigation notebook and archive its report")
    add_investigation_options(run)
    add_alert_options(run)
    add_archive_option(run)
    run.set_defaults(handler=command_run)

    demo = commands.add_parser("demo", help="reproduce a lock-contention incident on an embedded PostgreSQL")
    add_archive_option(demo)
    demo.set_defaults(handler=command_demo)

    listing = commands.add_parser("list", help="list archived investigations, newest first")
    add_archive_option(listing)
    listing.set_defaults(handler=command_list)

    new = commands.add_parser("new", help="prepare an incident's notebook for JupyterLab (nothing runs)")
    add_investigation_options(new)
    add_alert_options(new)
    add_archive_option(new)
    new.set_defaults(handler=command_new)

    lab = commands.add_parser("lab", help="open an incident's notebook in JupyterLab")
    lab.add_argument("incident", metavar="INCIDENT")
    add_archive_option(lab)
    lab.set_defaults(handler=command_lab)

    watching = commands.add_parser("watch", help="re-run an incident's hypotheses until they clear")
    watching.add_argument("incident", metavar="INCIDENT")
    watching.add_argument("--every", default="30s", help="time between rounds, e.g. 30s, 2m (default 30s)")
    watching.add_argument(
        "--until-clear",
        type=int,
        default=3,
        metavar="N",
        help="stop once every hypothesis is False for N rounds in a row (default 3)",
    )
    watching.add_argument("--max-rounds", type=int, default=120, metavar="M", help="stop after M rounds")
    watching.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="NAME=REF",
        help="replace a target of the latest run, e.g. to give its password",
    )
    add_archive_option(watching)
    watching.set_defaults(handler=command_watch)

    listening = commands.add_parser("listen", help="receive Alertmanager, Grafana and PagerDuty webhooks")
    listening.add_argument(
        "--bind",
        default="127.0.0.1:9393",
        metavar="HOST:PORT",
        help="where to listen (default 127.0.0.1:9393)",
    )
    listening.add_argument(
        "--no-auth", action="store_true", help="accept notifications without a bearer token (loopback only)"
    )
    listening.add_argument(
        "--workers", type=int, default=2, metavar="N", help="investigations at once (default 2)"
    )
    listening.add_argument(
        "--queue",
        type=int,
        default=100,
        metavar="N",
        help="notifications waiting at most; then 503 (default 100)",
    )
    listening.add_argument(
        "--grace",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="on SIGTERM, how long running investigations may finish (default 60)",
    )
    add_route_options(listening)
    add_archive_option(listening)
    listening.set_defaults(handler=command_listen)

    verify = commands.add_parser("verify", help="check that archived runs are as they were archived")
    verify.add_argument("incident", metavar="INCIDENT[/run-NNN]")
    add_archive_option(verify)
    verify.set_defaults(handler=command_verify)

    show = commands.add_parser("show", help="show an archived run's hypotheses and report path")
    show.add_argument("incident", metavar="INCIDENT[/run-NNN]")
    add_archive_option(show)
    show.set_defaults(handler=command_show)
    return parser


def fail(message: str, code: int) -> int:
    say(f"incident-lab: error: {scrub(message)}", file=sys.stderr)
    return code


class Terminated(BaseException):
    """SIGTERM, raised where the program is, so that what it was doing is undone as for Ctrl-C."""


def terminate(signal_number: int, frame: object) -> NoReturn:
    raise Terminated


def main(argv: Sequence[str] | None = None) -> int:
    import signal

    signal.signal(signal.SIGTERM, terminate)
    try:
        args = build_parser().parse_args(argv)
        return int(args.handler(args))
    except UsageError as error:
        return fail(str(error), EXIT_USAGE)
    except IncidentLabError as error:
        return fail(str(error).splitlines()[0], 1)
    except KeyboardInterrupt:
        return fail("interrupted", 130)
    except Terminated:
        return fail("terminated", 143)
    except BrokenPipeError:  # the reader (head, less) went away; nothing is wrong
        sys.stderr.close()
        return 0
    except OSError as error:  # the machine, not the user: a full disk, a folder we may not write
        where = f" ({error.filename})" if error.filename else ""
        return fail(f"{error.strerror or error}{where}", 1)


if __name__ == "__main__":
    sys.exit(main())

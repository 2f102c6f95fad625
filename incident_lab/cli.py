"""The `incident-lab` command.

Usage errors (unknown probe, bad parameter, malformed target) print one line on
stderr and exit 2; a probe that ran exits 0 whatever its verdict. Heavy libraries
are imported inside the subcommands that need them, to keep start-up fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from incident_lab.exceptions import IncidentLabError, UsageError
from incident_lab.redaction import scrub

EXIT_USAGE = 2


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line naming the problem."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def parse_assignments(items: Sequence[str], what: str) -> dict[str, str]:
    from incident_lab.targets import split_assignment

    return dict(split_assignment(item, what) for item in items)


def command_probes(args: argparse.Namespace) -> int:
    from incident_lab.registry import load_registry

    for probe in load_registry(args.probe_path):
        print(f"{probe.id}  [{probe.target_kind}]")
        print(f"    {probe.hypothesis}")
        print(f"    test: {probe.test}")
        for param in probe.params:
            print(f"    --param {param.name}={param.default!r}  ({param.type_name}) {param.doc}")
        print()
    return 0


def command_probe(args: argparse.Namespace) -> int:
    from incident_lab.probe import run_probe
    from incident_lab.registry import load_registry
    from incident_lab.targets import parse_target
    from incident_lab.text import format_result

    chosen = load_registry(args.probe_path).get(args.id)
    params = chosen.bind(parse_assignments(args.param, "--param"))
    reference = args.target.removeprefix(f"{chosen.target_kind}=")
    result = run_probe(chosen, parse_target(chosen.target_kind, reference), params)
    print(result.to_json() if args.json else format_result(result, show_test=args.show_test))
    return 0


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

    listing = commands.add_parser("probes", help="list the probe catalogue")
    listing.set_defaults(handler=command_probes)

    one = commands.add_parser("probe", help="run one probe and print its verdict")
    one.add_argument("id", help="probe id, e.g. postgres.lock_contention")
    one.add_argument("--target", required=True, help="KIND=REFERENCE, e.g. postgres=service=shop")
    one.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    one.add_argument("--json", action="store_true", help="print exactly one result JSON object")
    one.add_argument("--show-test", action="store_true", help="also print the exact test (SQL) run")
    one.set_defaults(handler=command_probe)
    return parser


def fail(message: str, code: int) -> int:
    print(f"incident-lab: error: {scrub(message)}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return int(args.handler(args))
    except UsageError as error:
        return fail(str(error), EXIT_USAGE)
    except IncidentLabError as error:
        return fail(str(error).splitlines()[0], 1)
    except KeyboardInterrupt:
        return fail("interrupted", 130)
    except BrokenPipeError:  # the reader (head, less) went away; nothing is wrong
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())

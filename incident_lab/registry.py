"""The catalogue: probes by stable dotted id, and target kinds by name, each from three
kinds of source.

- built in: the target kinds are the packages under `incident_lab.kinds`, the probes
  the package `incident_lab.probes` (the `probes/` folder);
- installed packages, through the entry-point groups `incident_lab.kinds` and
  `incident_lab.probes`; an entry point names a module, an object, or a list of them;
- a team's own folders of modules, given with `--probe-path` or the
  `INCIDENT_LAB_PROBE_PATH` environment variable (folders separated by `os.pathsep`);
  a module there may define kinds as well as probes.

Two probes under one id, or two kinds under one name, is an error naming both
sources; so is a probe whose target kind no source registers.

The failure patterns (`incident_lab.failure_patterns`) come from the same three kinds
of source: the package `incident_lab.patterns` (the `patterns/` folder), the
entry-point group `incident_lab.patterns` (naming a package or a folder of pattern
files), and the YAML files of the probe folders. They are read, and checked against
the probes, the first time `Registry.patterns` is asked for, so that running one probe
never pays for reading them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import replace
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from types import ModuleType

from incident_lab.exceptions import (
    DuplicateKindError,
    DuplicateProbeError,
    PatternError,
    TargetError,
    UnknownProbeError,
)
from incident_lab.failure_patterns import PatternCatalogue, PatternSource, load_patterns
from incident_lab.kinds import TargetKind
from incident_lab.plugins import entry_point_objects, folder_modules, package_modules
from incident_lab.probe import Probe

PROBE_ENTRY_POINTS = "incident_lab.probes"
KIND_ENTRY_POINTS = "incident_lab.kinds"
PATH_VARIABLE = "INCIDENT_LAB_PROBE_PATH"
BUILTIN_PROBES = "incident_lab.probes"
BUILTIN_KINDS = "incident_lab.kinds"
PATTERN_ENTRY_POINTS = "incident_lab.patterns"
BUILTIN_PATTERNS = "incident_lab.patterns"
BUILTIN = "the built-in catalogue"


class Registry:
    def __init__(self) -> None:
        self._probes: dict[str, Probe] = {}
        self._kinds: dict[str, tuple[TargetKind, str]] = {}
        self._pattern_folders: list[Path] = []
        self._builtin_patterns = False
        self._pattern_entry_points = False
        self._patterns: PatternCatalogue | None = None

    def add(self, probe: Probe, source: str) -> None:
        existing = self._probes.get(probe.id)
        if existing is None:
            self._probes[probe.id] = replace(probe, source=source)
        elif existing.function is not probe.function:
            raise DuplicateProbeError(
                f"probe id {probe.id} is defined twice: by {existing.source} and by {source}"
            )

    def add_kind(self, kind: TargetKind, source: str) -> None:
        existing = self._kinds.get(kind.name)
        if existing is None:
            self._kinds[kind.name] = (kind, source)
        elif type(existing[0]) is not type(kind):  # one kind imported into another module is no duplicate
            raise DuplicateKindError(
                f"target kind {kind.name} is defined twice: by {existing[1]} and by {source}"
            )

    def copy(self) -> Registry:
        """A registry with the same probes and kinds, to which more can be added apart."""
        copied = Registry()
        copied._probes = dict(self._probes)
        copied._kinds = dict(self._kinds)
        copied._pattern_folders = list(self._pattern_folders)
        copied._builtin_patterns = self._builtin_patterns
        copied._pattern_entry_points = self._pattern_entry_points
        copied._patterns = self._patterns
        return copied

    def add_objects(self, values: Iterable[object], source: str) -> None:
        """Every probe and kind among `values` (a module's names, an entry point's list)."""
        for value in values:
            if isinstance(value, Probe):
                self.add(value, source)
            elif isinstance(value, TargetKind):
                self.add_kind(value, source)

    def add_module(self, module: ModuleType, source: str) -> None:
        self.add_objects(vars(module).values(), f"{source} ({module.__name__})")

    def load_builtin(self) -> None:
        for module in package_modules(BUILTIN_KINDS, recursive=False):
            self.add_module(module, BUILTIN)
        for module in package_modules(BUILTIN_PROBES, recursive=True):
            self.add_module(module, BUILTIN)
        self._builtin_patterns = True

    def load_entry_points(self) -> None:
        for group in (KIND_ENTRY_POINTS, PROBE_ENTRY_POINTS):
            for loaded, source in entry_point_objects(group):
                if isinstance(loaded, ModuleType):
                    self.add_module(loaded, source)
                else:
                    self.add_objects(loaded if isinstance(loaded, list | tuple) else [loaded], source)
        self._pattern_entry_points = True  # looked up only when the patterns are asked for

    def load_path(self, folder: str | Path) -> None:
        for module, path in folder_modules(Path(folder).expanduser()):
            self.add_module(module, f"probe path {path}")
        self._pattern_folders.append(Path(folder).expanduser())
        self._patterns = None

    def check(self) -> None:
        """Every probe's target kind is registered: a probe that could never be pointed at
        anything is an error now, not in the middle of an incident."""
        for probe in self._probes.values():
            if probe.target_kind not in self._kinds:
                raise TargetError(
                    f"probe {probe.id} (from {probe.source}) needs target kind {probe.target_kind!r}, "
                    f"which no source registers (known: {', '.join(sorted(self._kinds))})"
                )

    @property
    def patterns(self) -> PatternCatalogue:
        """The failure patterns of every source, read and checked against the probes the
        first time they are asked for; a mistake in one is a `PatternError`."""
        if self._patterns is None:
            self._patterns = load_patterns(self._pattern_sources(), self)
        return self._patterns

    def check_patterns(self) -> None:
        """Read the failure patterns now: a broken file is a usage error before anything runs."""
        _ = self.patterns  # reading (and checking) them is the point

    def _pattern_sources(self) -> Iterator[PatternSource]:
        if self._builtin_patterns:
            folder = files(BUILTIN_PATTERNS)
            yield PatternSource(folder, str(folder), BUILTIN)
        if self._pattern_entry_points:
            for loaded, source in entry_point_objects(PATTERN_ENTRY_POINTS):
                yield PatternSource(entry_point_folder(loaded, source), source, source)
        for folder in self._pattern_folders:
            yield PatternSource(folder, str(folder))

    def get(self, probe_id: str) -> Probe:
        try:
            return self._probes[probe_id]
        except KeyError:
            raise UnknownProbeError(
                f"unknown probe id {probe_id!r} (run `incident-lab probes` for the catalogue)"
            ) from None

    def kind(self, name: str) -> TargetKind:
        try:
            return self._kinds[name][0]
        except KeyError:
            raise TargetError(
                f"unknown target kind {name!r} (known: {', '.join(sorted(self._kinds))})"
            ) from None

    def kind_of(self, probe_id: str) -> TargetKind:
        """The kind of target a probe points at."""
        return self.kind(self.get(probe_id).target_kind)

    def kinds(self) -> list[tuple[TargetKind, str]]:
        """Every kind with its source, by name."""
        return [self._kinds[name] for name in sorted(self._kinds)]

    @property
    def kind_names(self) -> set[str]:
        return set(self._kinds)

    def __contains__(self, probe_id: object) -> bool:
        return probe_id in self._probes

    def __iter__(self) -> Iterator[Probe]:
        return iter(sorted(self._probes.values(), key=lambda probe: probe.id))

    def __len__(self) -> int:
        return len(self._probes)


def entry_point_folder(loaded: object, source: str) -> Traversable:
    """The folder of pattern files an entry point names: a package's, or a path."""
    if isinstance(loaded, ModuleType) and hasattr(loaded, "__path__"):
        return files(loaded.__name__)
    if isinstance(loaded, str | os.PathLike):
        folder = Path(loaded)
        if folder.is_dir():
            return folder
        raise PatternError(f"{source} names {folder}, which is not a folder")
    if isinstance(loaded, Traversable):
        return loaded
    raise PatternError(f"{source} names neither a package nor a folder of pattern files")


def load_registry(probe_paths: Iterable[str | Path] = ()) -> Registry:
    """The catalogue, installed plug-ins, `INCIDENT_LAB_PROBE_PATH` and `probe_paths`."""
    registry = Registry()
    registry.load_builtin()
    registry.load_entry_points()
    from_environment = [p for p in os.environ.get(PATH_VARIABLE, "").split(os.pathsep) if p]
    folders = {Path(folder).expanduser().resolve(): None for folder in [*from_environment, *probe_paths]}
    for folder in folders:  # a folder named twice (option and environment) is loaded once
        registry.load_path(folder)
    registry.check()
    return registry

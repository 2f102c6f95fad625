"""The probe registry: stable dotted ids mapped to probes from three kinds of source.

- the built-in catalogue, the package `incident_lab.probes` (the `probes/` folder);
- installed packages, through the entry-point group `incident_lab.probes`; an entry
  point names a module, a probe, or a list of probes;
- a team's own folders of probe modules, given with `--probe-path` or the
  `INCIDENT_LAB_PROBE_PATH` environment variable (folders separated by `os.pathsep`).

Two probes under one id is an error that names both sources.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import pkgutil
import sys
from collections.abc import Iterable, Iterator
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType

from incident_lab.exceptions import DuplicateProbeError, UnknownProbeError, UsageError
from incident_lab.probe import Probe

ENTRY_POINT_GROUP = "incident_lab.probes"
PATH_VARIABLE = "INCIDENT_LAB_PROBE_PATH"
BUILTIN_PACKAGE = "incident_lab.probes"


class Registry:
    def __init__(self) -> None:
        self._probes: dict[str, Probe] = {}

    def add(self, probe: Probe, source: str) -> None:
        existing = self._probes.get(probe.id)
        if existing is not None and existing.function is not probe.function:
            raise DuplicateProbeError(
                f"probe id {probe.id} is defined twice: by {existing.source} and by {source}"
            )
        self._probes[probe.id] = _with_source(probe, source)

    def add_module(self, module: ModuleType, source: str) -> None:
        for probe in _probes_in(vars(module).values()):
            self.add(probe, f"{source} ({module.__name__})")

    def load_builtin(self) -> None:
        package = importlib.import_module(BUILTIN_PACKAGE)
        for info in pkgutil.walk_packages(package.__path__, f"{BUILTIN_PACKAGE}."):
            self.add_module(importlib.import_module(info.name), "the built-in catalogue")

    def load_entry_points(self) -> None:
        for entry in entry_points(group=ENTRY_POINT_GROUP):
            loaded = entry.load()
            dist = entry.dist.name if entry.dist else "?"
            source = f"entry point {entry.name} = {entry.value} of {dist}"
            if isinstance(loaded, ModuleType):
                self.add_module(loaded, source)
            else:
                for probe in _probes_in(loaded if isinstance(loaded, list | tuple) else [loaded]):
                    self.add(probe, source)

    def load_path(self, folder: str | Path) -> None:
        folder = Path(folder).expanduser()
        if not folder.is_dir():
            raise UsageError(f"probe path {folder} is not a folder")
        prefix = "incident_lab_local_" + hashlib.sha1(str(folder.resolve()).encode()).hexdigest()[:10]
        for path in sorted(folder.glob("*.py")):
            if path.name.startswith("_"):
                continue
            name = f"{prefix}.{path.stem}"
            spec = importlib.util.spec_from_file_location(name, path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            try:
                spec.loader.exec_module(module)
            except Exception as error:  # the team's module, not ours: say which and why, briefly
                del sys.modules[name]
                problem = f"{type(error).__name__}: {error}"
                raise UsageError(f"probe module {path} does not load: {problem}") from None
            self.add_module(module, f"probe path {path}")

    def get(self, probe_id: str) -> Probe:
        try:
            return self._probes[probe_id]
        except KeyError:
            raise UnknownProbeError(
                f"unknown probe id {probe_id!r} (run `incident-lab probes` for the catalogue)"
            ) from None

    def __contains__(self, probe_id: object) -> bool:
        return probe_id in self._probes

    def __iter__(self) -> Iterator[Probe]:
        return iter(sorted(self._probes.values(), key=lambda probe: probe.id))

    def __len__(self) -> int:
        return len(self._probes)


def _probes_in(values: Iterable[object]) -> Iterator[Probe]:
    return (value for value in values if isinstance(value, Probe))


def _with_source(probe: Probe, source: str) -> Probe:
    from dataclasses import replace

    return replace(probe, source=source)


def load_registry(probe_paths: Iterable[str | Path] = ()) -> Registry:
    """The catalogue, installed plug-ins, `INCIDENT_LAB_PROBE_PATH` and `probe_paths`."""
    registry = Registry()
    registry.load_builtin()
    registry.load_entry_points()
    from_environment = [p for p in os.environ.get(PATH_VARIABLE, "").split(os.pathsep) if p]
    folders = {Path(folder).expanduser().resolve(): None for folder in [*from_environment, *probe_paths]}
    for folder in folders:  # a folder named twice (option and environment) is loaded once
        registry.load_path(folder)
    return registry

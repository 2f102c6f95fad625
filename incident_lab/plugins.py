"""Where plug-ins come from, for probes and target kinds alike: a package's modules,
installed packages' entry points, and folders of a team's own modules."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import pkgutil
import sys
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType

from incident_lab.exceptions import UsageError


def package_modules(package_name: str, *, recursive: bool) -> Iterator[ModuleType]:
    """The package's modules (every one below it, or only those right under it)."""
    package = importlib.import_module(package_name)
    walk = pkgutil.walk_packages if recursive else pkgutil.iter_modules
    for info in walk(package.__path__, f"{package_name}."):
        yield importlib.import_module(info.name)


def entry_point_objects(group: str) -> Iterator[tuple[object, str]]:
    """What each entry point of the group names (a module, an object or a list), with a
    description of where it came from."""
    for entry in entry_points(group=group):
        dist = entry.dist.name if entry.dist else "?"
        yield entry.load(), f"entry point {entry.name} = {entry.value} of {dist}"


def folder_modules(folder: Path) -> Iterator[tuple[ModuleType, Path]]:
    """Every `*.py` module of a folder (but `_private.py` ones), imported under a name
    unique to the folder; a module that does not load is a `UsageError` saying why."""
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
            raise UsageError(f"probe module {path} does not load: {type(error).__name__}: {error}") from None
        yield module, path

"""The layering of ARCHITECTURE.md, held against the code: no import cycle anywhere in
the package, and no module importing a layer above its own. Imports inside functions
count; those under `if TYPE_CHECKING:` do not (they never run)."""

import ast
import functools
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Module name prefixes and their layer, lowest first; the longest matching prefix wins.
LAYERS = {
    "incident_lab.exceptions": 0,
    "incident_lab.verdict": 0,
    "incident_lab.redaction": 0,
    "incident_lab.wording": 0,
    "incident_lab.yaml_files": 0,
    "incident_lab.durations": 0,
    "incident_lab.result": 0,
    "incident_lab.charts": 0,
    "incident_lab.probe": 0,
    "incident_lab.plugins": 0,
    "incident_lab.services": 0,
    "incident_lab.embedded": 0,
    "incident_lab.scenarios": 0,
    "incident_lab.kinds": 1,
    "incident_lab.registry": 2,
    "incident_lab.runner": 2,
    "incident_lab.failure_patterns": 2,
    "incident_lab.probes": 2,
    "incident_lab": 2,  # the package's face: what probes and users import
    "incident_lab.investigation": 3,
    "incident_lab.render": 4,
    "incident_lab.archive": 5,
    "incident_lab.notebook": 6,
    "incident_lab.watch": 6,
    "incident_lab.demo": 6,
    "incident_lab.cli": 6,
    "incident_lab.listen": 6,
    "incident_lab.testing": 6,
}
LAYER_NAMES = ["model", "kinds", "catalogue", "investigation", "rendering", "archive", "application"]


def modules() -> dict[str, Path]:
    found = {}
    for folder, package in (
        (ROOT / "incident_lab", "incident_lab"),
        (ROOT / "probes", "incident_lab.probes"),
    ):
        for path in folder.rglob("*.py"):
            parts = [package, *path.relative_to(folder).with_suffix("").parts]
            found[".".join(parts).removesuffix(".__init__")] = path
    return found


def imports(path: Path, known: set[str]) -> set[str]:
    named: set[str] = set()
    pending: list[ast.AST] = [ast.parse(path.read_text())]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in (
            getattr(node.test, "id", None),
            getattr(node.test, "attr", None),
        ):
            continue  # for type checkers only: not imported when the code runs
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("incident_lab"):
            named |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            named |= {alias.name for alias in node.names if alias.name.startswith("incident_lab")}
        pending.extend(ast.iter_child_nodes(node))
    return {name for name in named if name in known}


@functools.cache
def graph() -> dict[str, set[str]]:
    found = modules()
    edges = {}
    for name, path in found.items():
        # A module's own package's face is imported first by Python anyway: no edge of its choosing.
        edges[name] = {t for t in imports(path, set(found)) if t != name and not name.startswith(t + ".")}
    return edges


def layer(module: str) -> int:
    prefix = max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len)
    return LAYERS[prefix]


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_package_has_no_import_cycle():
    assert cycles(graph()) == []


def test_no_module_imports_a_layer_above_its_own():
    upward = [
        f"{source} ({LAYER_NAMES[layer(source)]}) imports {target} ({LAYER_NAMES[layer(target)]})"
        for source, targets in graph().items()
        for target in targets
        if layer(target) > layer(source)
    ]
    assert upward == []


def test_the_cycle_check_finds_a_cycle_when_there_is_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_engine_names_no_probe():
    """Model, investigation, rendering and archive hold no probe's id: what is particular to a
    probe is declared by the probe or its kind."""
    found = modules()
    engine = {name: path.read_text() for name, path in found.items() if layer(name) in (0, 3, 4, 5)}
    probe_ids = [f'"{name.removeprefix("incident_lab.probes.")}"' for name in found if name.count(".") == 3]
    mentions = [
        f"{name} names {probe_id}"
        for name, text in engine.items()
        for probe_id in probe_ids
        if probe_id in text
    ]
    assert len(probe_ids) >= 10 and mentions == []

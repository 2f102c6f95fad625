"""The catalogue: kinds and probes from a team's folder, duplicates named with both sources."""

import textwrap

import pytest

from incident_lab.exceptions import DuplicateKindError, TargetError
from incident_lab.registry import Registry, load_registry

KIND_MODULE = """
from incident_lab import DefaultHypothesis, TargetKind, probe, refuted


class Folder:
    def __init__(self, path):
        self.label = f"folder {path}"


class FolderKind(TargetKind):
    name = "{name}"
    description = "a folder"
    default_hypotheses = (DefaultHypothesis("{name}.full"),)

    def parse(self, reference):
        return Folder(reference)


KIND = FolderKind()


@probe("{name}.full", hypothesis="the folder is full", test="look", target="{name}")
def full(folder):
    return refuted("room left")
"""


def write(folder, name, text):
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.py").write_text(textwrap.dedent(text))
    return folder


def test_a_folder_on_the_probe_path_brings_its_kind_and_its_probe(tmp_path):
    registry = load_registry(
        [write(tmp_path / "team", "folder_kind", KIND_MODULE.replace("{name}", "folder"))]
    )
    assert registry.kind("folder").default_hypotheses[0].probe == "folder.full"
    assert "folder.full" in registry
    ((_, source),) = [(kind, source) for kind, source in registry.kinds() if kind.name == "folder"]
    assert "probe path" in source and "folder_kind.py" in source
    assert {kind.name for kind, _ in registry.kinds()} >= {"postgres", "http", "llm", "folder"}


def test_a_second_kind_under_a_builtin_name_is_an_error_naming_both_sources(tmp_path):
    folder = write(
        tmp_path / "team",
        "mine",
        KIND_MODULE.replace("{name}", "postgres").replace("postgres.full", "x.full"),
    )
    with pytest.raises(
        DuplicateKindError, match=r"postgres is defined twice: by the built-in catalogue .* and by probe path"
    ):
        load_registry([folder])


def test_two_folders_defining_one_kind_name_both_files(tmp_path):
    first = write(tmp_path / "a", "one", KIND_MODULE.replace("{name}", "queue"))
    second = write(
        tmp_path / "b", "two", KIND_MODULE.replace("{name}", "queue").replace("queue.full", "q2.full")
    )
    with pytest.raises(DuplicateKindError, match=r"one\.py.*two\.py"):
        load_registry([first, second])


def test_a_probe_whose_kind_no_source_registers_is_an_error_at_load_time(tmp_path):
    folder = write(
        tmp_path / "team",
        "lag",
        """
        from incident_lab import probe, refuted

        @probe("kafka.lag", hypothesis="consumers lag", test="read offsets", target="kafka")
        def lag(cluster):
            return refuted("no lag")
    """,
    )
    with pytest.raises(
        TargetError, match=r"probe kafka\.lag .* needs target kind 'kafka', which no source registers"
    ):
        load_registry([folder])


def test_one_kind_imported_into_another_module_is_no_duplicate():
    registry = Registry()
    registry.load_builtin()
    from incident_lab.kinds.postgres import KIND

    registry.add_kind(KIND, "somewhere else")
    sources = {kind.name: source for kind, source in registry.kinds()}
    assert sources["postgres"].startswith("the built-in catalogue")

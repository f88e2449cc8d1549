"""The data flows one way: export (simulate) -> ingest -> features -> model -> training ->
batch -> review -> service -> monitor -> serving -> CLI, over a ground floor every stage may use.

Every import of every module (top level, inside functions, under TYPE_CHECKING) is read with
`ast`; an import from a later stage is a design bug: the model that a service loads must not
need the training code, features must not know the model that reads them, and nothing the
library does may depend on the live service or the command line. Every module has a stage (a
new file outside any stage fails here), and no two modules import each other, even by a chain.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# The ground floor: the call record, settings, vocabularies, errors, reading canonical calls,
# premise hazard flags, SQLite plumbing, process memory, the Dask connection, the text normalisers
# and call-type lexicon (the draft reads it as the features do). Every stage may use it; it uses
# no stage.
GROUND = (
    "risk_model",
    "risk_model.schema",
    "risk_model.config",
    "risk_model.vocab",
    "risk_model.errors",
    "risk_model.dataset",
    "risk_model.metrics",
    "risk_model.db",
    "risk_model.memory",
    "risk_model.dask_client",
    "risk_model.text",
    "risk_model.hazards",
)
# Stage of each module prefix, in flow order. `risk_model.scoring` is the model's old home,
# kept so models registered before `model/` existed still load.
STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("ground", GROUND),
    ("export", ("risk_model.simulate",)),
    ("ingest", ("risk_model.ingest",)),
    ("features", ("risk_model.features",)),
    ("model", ("risk_model.model", "risk_model.scoring")),
    ("training", ("risk_model.training",)),
    ("batch", ("risk_model.batch",)),
    ("review", ("risk_model.review",)),
    ("service", ("risk_model.service",)),
    ("monitor", ("risk_model.monitor",)),
    ("serving", ("serving",)),
    ("cli", ("risk_model.cli",)),
)
RANK = {name: i for i, (name, _) in enumerate(STAGES)}


def stage_of(module: str) -> str | None:
    """The stage of a project module (ground modules by exact name), None outside the project."""
    if module in GROUND:
        return "ground"
    for name, prefixes in STAGES[1:]:
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return name
    return None


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(module: str, source: str, is_package: bool = False) -> list[tuple[int, str]]:
    """(line, imported module) for every import statement in a module's source."""
    tree = ast.parse(source)
    package = module if is_package else module.rsplit(".", 1)[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import: resolve against this package
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            found.append((node.lineno, base))
            # `from risk_model import training` imports the submodule itself
            found.extend((node.lineno, f"{base}.{alias.name}") for alias in node.names)
    return found


def project_files() -> list[Path]:
    return sorted([*(REPO / "risk_model").rglob("*.py"), *(REPO / "serving").rglob("*.py")])


def violations(module: str, source: str, is_package: bool = False) -> list[str]:
    here = stage_of(module)
    if here is None:
        return []
    out = []
    for line, target in imports_of(module, source, is_package):
        there = stage_of(target)
        if there is not None and RANK[there] > RANK[here]:
            out.append(f"{module}:{line}: {here} imports {target} ({there})")
    return out


def test_no_import_runs_back_up_the_flow() -> None:
    found = [
        v
        for path in project_files()
        for v in violations(
            module_name(path), path.read_text(encoding="utf-8"), path.name == "__init__.py"
        )
    ]
    assert found == [], "\n".join(found)


def test_every_stage_has_modules() -> None:
    """The rule is not vacuous: each named stage exists in the tree."""
    stages = {stage_of(module_name(p)) for p in project_files()}
    assert {name for name, _ in STAGES} <= stages | {"ground"}


def test_every_module_has_a_stage() -> None:
    """A module outside every stage would escape the flow check: none may exist."""
    unstaged = [m for m in map(module_name, project_files()) if stage_of(m) is None]
    assert unstaged == []


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports (anywhere in its source)."""
    modules = {module_name(p): p for p in project_files()}
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        found = imports_of(module, path.read_text(encoding="utf-8"), path.name == "__init__.py")
        graph[module] = {t for _, t in found if t in modules and t != module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of two or more modules (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_two_modules_import_each_other() -> None:
    """No circle, direct or through a chain: each module can be read after those it uses."""
    assert cycles(import_graph()) == []


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, [["a", "b", "c"]]),
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
    ],
)
def test_the_circle_check_sees_chains(graph: dict[str, set[str]], expected: list) -> None:
    assert cycles(graph) == expected


# Only these may import the live service: the service itself, the HTTP layer, the command
# line, and the monitor, which reads its audit log. Batch scoring, training and the ground floor
# must not.
LIVE_SIDE = ("risk_model.service", "risk_model.monitor", "serving", "risk_model.cli")


def live_service_imports(module: str, source: str, is_package: bool = False) -> list[str]:
    """Imports of risk_model.service from a module outside LIVE_SIDE."""
    if any(module == p or module.startswith(p + ".") for p in LIVE_SIDE):
        return []
    return [
        f"{module}:{line}: imports {target} (the live service)"
        for line, target in imports_of(module, source, is_package)
        if target == "risk_model.service" or target.startswith("risk_model.service.")
    ]


def test_only_the_live_side_imports_the_service() -> None:
    found = [
        v
        for path in project_files()
        for v in live_service_imports(
            module_name(path), path.read_text(encoding="utf-8"), path.name == "__init__.py"
        )
    ]
    assert found == [], "\n".join(found)


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("risk_model.training.pipeline", "from risk_model.service import assessor\n", True),
        ("risk_model.batch.score", "def f():\n    from risk_model.service.serve import x\n", True),
        ("risk_model.config", "from risk_model import service\n", True),
        ("risk_model.cli", "from risk_model.service.serve import serve_service\n", False),
        ("serving.review", "from risk_model.service import assessor\n", False),
        ("risk_model.monitor.job", "from risk_model.service import audit_codec\n", False),
        ("risk_model.review.view", "from risk_model.service import audit_log\n", True),
        ("risk_model.service.serve", "from risk_model.service.settings import x\n", False),
        ("risk_model.training.pipeline", "from risk_model.features import build\n", False),
    ],
)
def test_the_live_side_check_sees_imports(module: str, source: str, expected: bool) -> None:
    """A module named `module` written like `source` is (or is not) reported."""
    assert bool(live_service_imports(module, source)) is expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from risk_model.training.splits import x\n", True),
        ("def f():\n    from risk_model.service.assessor import LiveAssessor\n", True),
        ("from risk_model import training\n", True),
        ("from ..training import models\n", True),
        ("from risk_model.features.build import x\n", False),
        ("import numpy\n", False),
    ],
)
def test_the_checker_sees_imports_anywhere(source: str, expected: bool) -> None:
    """A model module written like `source` is (or is not) reported."""
    assert bool(violations("risk_model.model.probe", source)) is expected

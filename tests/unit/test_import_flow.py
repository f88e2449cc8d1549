"""The data flows one way: export -> ingest -> features -> model -> training -> service ->
serving -> CLI.

Every import of every module (top level, inside functions, under TYPE_CHECKING) is read with
`ast`; an import from a later stage is a design bug: the model that a service loads must not
need the training code, features must not know the model that reads them, and nothing the
library does may depend on the live service or the command line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# Stage of each module prefix, in flow order. Shared foundations (config, schema, errors, db,
# vocab, tracking, ...) belong to no stage: every stage may use them. So do tools beside the
# flow: mapping_draft drafts a mapping for a person to edit and reads the call-type lexicon.
STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("export", ("risk_model.simulate", "risk_model.agency_export")),
    ("ingest", ("risk_model.ingest",)),
    ("features", ("risk_model.features",)),
    ("model", ("risk_model.model",)),
    ("training", ("risk_model.training",)),
    ("service", ("risk_model.service",)),
    ("serving", ("serving",)),
    ("cli", ("risk_model.cli", "risk_model.offline", "risk_model.offline_cluster")),
)
RANK = {name: i for i, (name, _) in enumerate(STAGES)}


def stage_of(module: str) -> str | None:
    for name, prefixes in STAGES:
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
    assert {"export", "ingest", "features", "model", "training", "service", "serving", "cli"} <= (
        stages
    )


# Only these may import the live service: the service itself, the HTTP layer and the command
# line. The offline commands (risk_model.offline), training and every shared module must not.
LIVE_SIDE = ("risk_model.service", "serving", "risk_model.cli")


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
        ("risk_model.offline", "def f():\n    from risk_model.service.serve import x\n", True),
        ("risk_model.config", "from risk_model import service\n", True),
        ("risk_model.cli", "from risk_model.service.serve import serve_service\n", False),
        ("serving.review", "from risk_model.service import review_view\n", False),
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

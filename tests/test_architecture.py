"""The package layout's import rule: a module imports only from its own layer or the layers below.

docs/ARCHITECTURE.md draws the same layers; this test keeps the drawing true.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "src" / "spectcontra"

# Lowest first. A name is a top-level module or a subpackage of spectcontra.
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"conventions", "errors", "config", "io_utils", "seeding", "audio"}),  # core
    frozenset({"evaluation"}),  # metrics on score arrays: no torch, no models
    frozenset({"data"}),  # sources write audio + protocol; the audit reads evaluation.metrics
    frozenset({"augment", "features"}),
    frozenset({"models"}),
    frozenset({"training", "baselines"}),
    frozenset({"inference"}),
    frozenset({"explain", "profiling", "experiments"}),
    frozenset({"reporting"}),
    frozenset({"cli", "stage"}),  # the two edges: the command line and the DVC stage runner
)
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}
# Packages whose __init__ must stay import-free, so that reaching one module does not load the
# others (the ONNX route in inference/ and the RSS probe in profiling/ must stay torch-free).
LIGHT_PACKAGES = sorted(p.parent.name for p in PKG.glob("*/__init__.py"))


def _unit(path: Path) -> str:
    rel = path.relative_to(PKG)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _imported_units(path: Path) -> set[str]:
    units = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "spectcontra" and len(parts) > 1:
                units.add(parts[1])
    return units


MODULES = sorted(p for p in PKG.rglob("*.py") if p.name != "__init__.py" or p.parent != PKG)


def test_every_module_has_a_layer() -> None:
    units = {_unit(p) for p in MODULES}
    assert units <= set(RANK), f"modules without a layer: {sorted(units - set(RANK))}"


def test_top_level_holds_only_packages_and_the_cross_cutting_modules() -> None:
    modules = {p.stem for p in PKG.glob("*.py")} - {"__init__"}
    assert modules == {"cli", "config", "conventions", "errors", "io_utils", "seeding", "audio",
                       "stage"}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.relative_to(PKG).as_posix())
def test_no_module_imports_from_a_layer_above_it(path: Path) -> None:
    unit = _unit(path)
    above = sorted(u for u in _imported_units(path) if RANK.get(u, -1) > RANK[unit])
    assert not above, f"{path.relative_to(PKG)} (layer {unit}) imports from above: {above}"


@pytest.mark.parametrize("package", LIGHT_PACKAGES)
def test_package_init_holds_only_its_docstring(package: str) -> None:
    tree = ast.parse((PKG / package / "__init__.py").read_text())
    assert len(tree.body) == 1 and isinstance(tree.body[0], ast.Expr), package
    assert len(ast.get_docstring(tree).splitlines()) >= 2, f"{package}: say what lives there"


def test_the_rule_catches_an_upward_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from spectcontra.training.recipe import load_features\n")
    assert RANK["training"] > RANK["evaluation"]
    assert _imported_units(bad) == {"training"}

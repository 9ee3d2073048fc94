"""dvc.yaml declares, for every stage, exactly the params keys it reads and the code it runs."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from spectcontra.config import load_config
from tests.conftest import expand_foreach, is_timing_file

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
DVC_YAML = yaml.safe_load((ROOT / "dvc.yaml").read_text())
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())


DVC = expand_foreach(DVC_YAML["stages"], PARAMS)
# Long studies: `make repro` (dvc repro report) leaves them out, so the report must not read them.
STUDIES = {"scale", "ablate", "label_efficiency"} | {n for n in DVC if "@" in n}


def _script(name: str) -> str:
    """The stage's module under stages/ (a foreach instance runs its stage's)."""
    return name.split("@")[0]


def _foreach_read(name: str, key: str) -> str:
    """A foreach instance reads only its own item of the params it iterates over."""
    if "@" not in name:
        return key
    base, item = name.split("@", 1)
    ref = DVC_YAML["stages"][base]["foreach"].removeprefix("${").removesuffix("}")
    return f"{ref}.{item}" if key == ref else key


def test_foreach_stages_expand_to_one_instance_per_item() -> None:
    variants = [n.split("@")[1] for n in DVC if n.startswith("ablate_variant@")]
    assert variants == list(PARAMS["ablate"]["variants"])
    assert "${key}" not in yaml.safe_dump(DVC[f"ablate_variant@{variants[0]}"])
# Keys every stage reads through spectcontra.stage.run_stage.
RUNNER_KEYS = {"common.threads", "common.seed"}
CFG_ACCESS = re.compile(r"\bcfg\.(\w+)(?:\.(\w+))?")


def _module_file(name: str) -> Path | None:
    base = SRC / Path(*name.split("."))
    for cand in (base.with_suffix(".py"), base / "__init__.py"):
        if cand.exists():
            return cand
    return None


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return {n for n in names if n.split(".")[0] == "spectcontra"}


def code_closure(stage_file: Path) -> set[Path]:
    """Every spectcontra source file the stage imports, transitively (packages' __init__ too)."""
    seen: set[Path] = set()
    todo = [stage_file]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in _imports(path):
            parts = name.split(".")
            for i in range(1, len(parts) + 1):
                f = _module_file(".".join(parts[:i]))
                if f is not None and f not in seen:
                    todo.append(f)
    return seen


# The package's __init__ holds only a docstring and the version (checked below), so editing
# it changes no stage's behaviour; listing it everywhere would rerun every stage for nothing.
EXEMPT = {SRC / "spectcontra" / "__init__.py"}


def test_exempt_files_hold_no_logic() -> None:
    for path in EXEMPT:
        tree = ast.parse(path.read_text())
        kinds = {type(node).__name__ for node in tree.body}
        assert kinds <= {"Expr", "Assign"}, f"{path} gained logic; list it in dvc.yaml deps"


def _covered(path: Path, deps: list[str]) -> bool:
    rel = path.relative_to(ROOT).as_posix()
    return any(rel == d or rel.startswith(d.rstrip("/") + "/") for d in deps)


def _declared_params(stage: dict) -> set[str]:
    out = set()
    for item in stage.get("params", []):
        out.update(item if isinstance(item, dict) else [item])
    return out


def _key_covered(key: str, declared: set[str]) -> bool:
    parts = key.split(".")
    return any(".".join(parts[:i]) in declared for i in range(1, len(parts) + 1))


@pytest.mark.parametrize("name", sorted(DVC))
def test_stage_declares_the_code_it_runs(name: str) -> None:
    stage = DVC[name]
    stage_file = ROOT / "stages" / f"{_script(name)}.py"
    # Run as a module: `python stages/x.py` would put stages/ first on sys.path, where
    # stages/profile.py shadows the standard library's `profile` (imported by torch).
    assert f"python -m stages.{_script(name)} " in stage["cmd"], f"{name}: cmd does not run its module"
    deps = [d for d in stage["deps"] if d.startswith(("stages/", "src/"))]
    needed = code_closure(stage_file) - EXEMPT
    missing = sorted(p.relative_to(ROOT).as_posix() for p in needed if not _covered(p, deps))
    assert not missing, f"stage {name} runs code it does not list in deps: {missing}"
    for dep in deps:
        dep_path = ROOT / dep
        assert dep_path.exists(), f"stage {name} lists missing dep {dep}"
        used = any(_covered(p, [dep]) for p in needed)
        assert used, f"stage {name} lists {dep} but never imports it (reruns for nothing)"


@pytest.mark.parametrize("name", sorted(DVC))
def test_stage_declares_exactly_the_params_it_reads(name: str) -> None:
    source = (ROOT / "stages" / f"{_script(name)}.py").read_text()
    read = RUNNER_KEYS | {
        _foreach_read(name, f"{section}.{key}" if key else section)
        for section, key in CFG_ACCESS.findall(source)
    }
    declared = _declared_params(DVC[name])
    unread = sorted(k for k in read if not _key_covered(k, declared))
    assert not unread, f"stage {name} reads params it does not declare: {unread}"
    extra = sorted(d for d in declared if not any(r == d or r.startswith(d + ".") or
                                                  d.startswith(r + ".") for r in read))
    assert not extra, f"stage {name} declares params it never reads: {extra}"


def test_declared_params_exist() -> None:
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    load_config(ROOT / "params.yaml")
    for name, stage in DVC.items():
        for key in _declared_params(stage):
            node = raw
            for part in key.split("."):
                assert isinstance(node, dict) and part in node, f"{name}: no params key {key}"
                node = node[part]


def _declared(stage: dict, group: str) -> dict[str, dict]:
    """{path: its options} of one group (outs, metrics, plots) of a stage."""
    items = (next(iter(i.items())) if isinstance(i, dict) else (i, {}) for i in stage.get(group, []))
    return {path: options or {} for path, options in items}


TOP_METRICS = [next(iter(m)) if isinstance(m, dict) else m for m in DVC_YAML.get("metrics", [])]


def test_every_stage_records_energy() -> None:
    """Each stage writes its timing record, a git-tracked output that is not a DVC metric."""
    for name, stage in DVC.items():
        energy = f"metrics/energy/{name}.json"
        assert f"--energy {energy}" in " ".join(stage["cmd"].split()), name
        assert is_timing_file(energy)
        outs = _declared(stage, "outs")
        assert energy in outs, f"{name} does not declare {energy} as an output"
        assert outs[energy].get("cache") is False, f"{name}: {energy} belongs in git (cache: false)"
        assert energy not in TOP_METRICS, f"{energy} is a timing file, not a metric"


def test_metrics_are_the_result_files_with_eval_first() -> None:
    """The top-level `metrics:` list holds every result JSON under metrics/ and no timing file;
    `dvc exp show` lists metrics in that order (stage-level `metrics:` entries would come first,
    in stage order, so there are none), so eval.json's EER leads the table."""
    assert TOP_METRICS and TOP_METRICS[0] == "metrics/eval.json"
    assert len(set(TOP_METRICS)) == len(TOP_METRICS)
    written: dict[str, dict] = {}
    for name, stage in DVC.items():
        assert "metrics" not in stage, f"{name}: list its result files in the top-level metrics"
        for group in ("outs", "plots"):
            written.update(_declared(stage, group))
    results = {p for p in written if p.startswith("metrics/") and p.endswith(".json")
               and not is_timing_file(p)}
    assert set(TOP_METRICS) == results, "every result JSON is a metric, and only those"
    for path in TOP_METRICS:
        assert written[path].get("cache") is False, f"{path} belongs in git (cache: false)"
    timing = {p for p in written if is_timing_file(p)}
    assert timing == ({f"metrics/energy/{n}.json" for n in DVC}
                      | {"metrics/profile.json", "metrics/scale.json"})


def _upstream(name: str) -> set[str]:
    """Every stage whose outputs ``name`` depends on, transitively."""
    outs = {}
    for stage, body in DVC.items():
        for group in ("outs", "metrics", "plots"):
            for item in body.get(group, []):
                outs[next(iter(item)) if isinstance(item, dict) else item] = stage
    seen, todo = set(), [name]
    while todo:
        for dep in DVC[todo.pop()].get("deps", []):
            stage = outs.get(dep)
            if stage and stage not in seen:
                seen.add(stage)
                todo.append(stage)
    return seen


def test_make_repro_runs_every_stage_but_the_long_studies() -> None:
    assert "dvc repro report" in (ROOT / "Makefile").read_text()
    assert _upstream("report") == set(DVC) - STUDIES - {"report"}


# Stages whose outputs every later stage reads: a fresh clone skips the training only if these
# reproduce the committed dvc.lock byte for byte, whatever vector units its CPU has.
CORPUS_STAGES = ("download", "preprocess")
PINS = ("NPY_DISABLE_CPU_FEATURES", "OPENBLAS_CORETYPE", "ATEN_CPU_CAPABILITY", "MKL_CBWR",
        "ONEDNN_MAX_CPU_ISA")


def _simd_pin() -> str:
    (pin,) = [v["simd_pin"] for v in DVC_YAML.get("vars", []) if "simd_pin" in v]
    return pin


@pytest.mark.parametrize("name", CORPUS_STAGES)
def test_corpus_stages_pin_kernel_dispatch(name: str) -> None:
    assert DVC[name]["cmd"].startswith("${simd_pin} python -m "), name
    pin = _simd_pin()
    assert pin.startswith("env ") and all(f"{key}=" in pin for key in PINS), pin


def test_the_pin_keeps_numpy_and_torch_off_avx512() -> None:
    """Run under the pin, NumPy dispatches to no kernel above X86_V3 (AVX2) and PyTorch to AVX2
    at most, on any CPU (on one without AVX-512 this holds anyway)."""
    import shlex
    import subprocess
    import sys
    env_args = shlex.split(_simd_pin())[1:]
    probe = ("import torch; from numpy._core._multiarray_umath import __cpu_features__ as f, "
             "__cpu_dispatch__ as d; print(sorted(k for k in d if f[k] and k != 'X86_V3')); "
             "print(torch.backends.cpu.get_cpu_capability())")
    out = subprocess.run(["env", *env_args, sys.executable, "-c", probe], capture_output=True,
                         text=True, check=True).stdout.split("\n")
    assert out[0] == "[]", out
    assert out[1] in {"AVX2", "DEFAULT", "NO AVX"}, out

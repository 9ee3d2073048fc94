"""End to end: `dvc repro` of the whole DAG on tiny params in a temporary git copy of the repo."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, expand_foreach, is_timing_file

BIN = Path(sys.executable).parent


def tiny_params(raw: dict) -> dict:
    """The default params, shrunk so the whole DAG runs in about a minute on 2 cores."""
    raw["common"].update(crop_seconds=1.0, threads=1)
    raw["data"]["source"] = "synthetic"  # tests never fetch
    raw["data"]["synthetic"].update(
        train_speakers=3, dev_speakers=2, eval_speakers=2, train_utterances=40,
        dev_utterances=30, eval_utterances=40, min_seconds=0.8, max_seconds=1.4,
    )
    raw["pretrain"].update(seeds=[1, 2], epochs=1, batch_size=16)
    raw["finetune"].update(epochs=2, batch_size=16)
    raw["evaluate"].update(n_bootstrap=20)
    raw["ablate"].update(seeds=[1], small_train_utterances=30, small_epochs=1, variants={
        "full_method": {}, "supervised_only": raw["ablate"]["variants"]["supervised_only"]})
    raw["label_efficiency"].update(fractions=[0.5, 1.0], seeds=[1, 2], steps=2, n_bootstrap=20)
    raw["profile"].update(durations=[4.0], warmup=1, runs=3, batch_size=4, wav2vec2=False)
    raw["detect"].update(occlusion_utterances=20, examples_per_class=1)
    raw["crosseval"].update(synthetic_speakers=2, synthetic_utterances=12)
    raw["scale"].update(train_utterances=40, dev_utterances=30, eval_utterances=40,
                        train_speakers=3, dev_speakers=2, eval_speakers=2, distinct_utterances=6,
                        min_seconds=0.8, max_seconds=1.4)
    return raw


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc


def _tiny_copy(dest: Path) -> Path:
    """A git copy of the project with tiny params, without any committed results."""
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
        text=True, check=True,
    ).stdout.split()
    for rel in files:
        if rel.startswith(("metrics/", "plots/", "models/", "scores/")) or rel in (
                "dvc.lock", "MODEL_CARD.md"):
            continue  # the run must produce these itself
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    raw = yaml.safe_load((dest / "params.yaml").read_text())
    (dest / "params.yaml").write_text(yaml.safe_dump(tiny_params(raw), sort_keys=False))
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "tiny"]):
        _run(cmd, dest)
    return dest


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    dest = _tiny_copy(tmp_path_factory.mktemp("e2e") / "repo")
    _run([str(BIN / "dvc"), "repro"], dest)
    return dest


# The only outputs allowed to differ between two identical runs: the timing files (wall clock,
# energy, latencies, peak RSS; tests/conftest.py), and the model card, which renders them in
# its cost and energy tables. Every result file, plots and metrics alike, reruns byte for byte.
RENDERS_TIMINGS = ("MODEL_CARD.md",)


def _may_differ(rel: str) -> bool:
    return is_timing_file(rel) or rel in RENDERS_TIMINGS


def _output_hashes(repo: Path) -> dict[str, str]:
    lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    return {out["path"]: out["md5"] for stage in lock.values() for out in stage.get("outs", [])}


def _dvc_stages(repo: Path) -> dict[str, dict]:
    """The repo's stages as DVC runs them: foreach stages expanded under its params."""
    return expand_foreach(yaml.safe_load((repo / "dvc.yaml").read_text())["stages"],
                          yaml.safe_load((repo / "params.yaml").read_text()))


@pytest.mark.slow
def test_every_stage_ran_and_wrote_its_outputs(repo: Path) -> None:
    dvc = _dvc_stages(repo)
    assert {"ablate_variant@full_method", "ablate_variant@supervised_only"} <= set(dvc)
    for name, stage in dvc.items():
        for group in ("outs", "metrics", "plots"):
            for item in stage.get(group, []):
                path = next(iter(item)) if isinstance(item, dict) else item
                assert (repo / path).exists(), f"stage {name} did not write {path}"
        energy = json.loads((repo / f"metrics/energy/{name}.json").read_text())
        assert energy["stage"] == name and energy["duration_s"] >= 0
    protocol = (repo / "data/protocol.csv").read_text().splitlines()
    assert protocol[0] == "utt_id,path,label,split,attack,speaker"
    assert len(protocol) == 1 + 40 + 30 + 40


@pytest.mark.slow
def test_rerun_without_changes_does_nothing(repo: Path) -> None:
    out = _run([str(BIN / "dvc"), "status"], repo).stdout
    assert "up to date" in out, out


@pytest.mark.slow
def test_a_param_change_reruns_only_the_stages_that_read_it(repo: Path) -> None:
    raw = yaml.safe_load((repo / "params.yaml").read_text())
    raw["preprocess"]["trim_db"] = raw["preprocess"]["trim_db"] + 1.0
    (repo / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    status = _run([str(BIN / "dvc"), "status", "--json"], repo).stdout
    changed = set(json.loads(status))
    assert "preprocess" in changed
    assert "download" not in changed, "download does not read preprocess.* but would rerun"


@pytest.mark.slow
def test_a_second_run_in_another_process_reproduces_every_output(repo: Path, tmp_path: Path):
    """The whole tiny DAG again, from scratch in another copy and process: every output hash in
    dvc.lock (corpus, features, models, ONNX graph, scores, metrics) is the same, except the
    timing files (and the model card that renders them); every result file in metrics/ is
    byte-identical, and the timing files are exactly the ones tests/conftest.py declares."""
    again = _tiny_copy(tmp_path / "again")
    _run([str(BIN / "dvc"), "repro"], again)
    first, second = _output_hashes(repo), _output_hashes(again)
    assert set(first) == set(second)
    assert {"models/encoders", "models/seeds", "models/detector.pt",
            "models/detector.onnx"} <= set(first)
    differ = sorted(p for p in first if first[p] != second[p] and not _may_differ(p))
    assert not differ, f"outputs differ between two identical runs: {differ}"
    files = {p.relative_to(repo).as_posix() for p in (repo / "metrics").rglob("*") if p.is_file()}
    assert files == {p.relative_to(again).as_posix() for p in (again / "metrics").rglob("*")
                     if p.is_file()}
    timing = {rel for rel in files if is_timing_file(rel)}
    assert timing == ({f"metrics/energy/{s}.json" for s in _dvc_stages(repo)}
                      | {"metrics/profile.json", "metrics/scale.json"})
    results = sorted(files - timing)
    assert "metrics/eval.json" in results and "metrics/ablation.json" in results
    for rel in results:
        assert (repo / rel).read_bytes() == (again / rel).read_bytes(), rel

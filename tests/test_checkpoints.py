"""Training scripts, their records, the checkpoint registry, and loading in notebooks."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_model

import course_utils as cu
from course_utils import checkpoints
from course_utils.checkpoints import RECORD_FIELDS, read_registry, registry_problems

ROOT = Path(__file__).resolve().parents[1]
LINE_SCRIPT = ROOT / "tests" / "fixtures" / "training" / "train_line.py"


def run_script(script, *args, timeout=120):
    proc = subprocess.run(
        [sys.executable, str(script), *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


# --- the training helper of the scripts --------------------------------------------------------


def test_a_script_writes_weights_and_a_complete_record(tmp_path):
    out = tmp_path / "line.safetensors"
    run_script(LINE_SCRIPT, "--out", out, "--steps", 40, "--seed", 3)
    record = json.loads(out.with_suffix(".json").read_text())
    assert set(RECORD_FIELDS) <= set(record)
    assert record["steps"] == 40 and record["stopped_by"] == "steps" and record["seed"] == 3
    assert "train_line.py --out" in record["command"] and "--seed 3" in record["command"]
    assert record["weights_sha256"] == cu.paths.sha256_of(out)
    assert [v["step"] for v in record["validations"]] == [10, 20, 30, 40]
    assert record["metrics"]["val mse"] < 0.1 and abs(record["metrics"]["slope"] - 3) < 0.2
    assert record["hardware"]["cores"] >= 1 and record["data"] == {"points": 256, "noise": 0.1}
    assert not out.with_suffix(".resume.pt").exists()


def fit_line(out, steps=30, **kwargs):
    """The fixture script's problem, in this process: a line fitted with SGD and momentum."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(1, 8), torch.nn.Dropout(0.2), torch.nn.Linear(8, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.5)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(64, 1, generator=gen)
    t = 3 * x - 1

    def loss(m, b):
        return torch.nn.functional.mse_loss(m(x[b]), t[b])

    record = cu.training.fit(
        model,
        lambda step: torch.arange(step * 4, step * 4 + 4) % 64,
        loss,
        opt,
        steps=steps,
        out=out,
        seed=0,
        data={},
        validate=lambda m: {"mse": torch.nn.functional.mse_loss(m(x), t)},
        validate_every=7,
        **kwargs,
    )
    return record, model


def test_a_run_stopped_by_its_budget_resumes_to_the_same_weights(tmp_path, capsys):
    whole, split = tmp_path / "whole.safetensors", tmp_path / "split.safetensors"
    _, model_whole = fit_line(whole)
    record, _ = fit_line(split, budget_minutes=0)
    assert "Stopped by the budget at step 1 of 30" in capsys.readouterr().out
    assert record["stopped_by"] == "budget" and record["steps"] == 1
    assert split.with_suffix(".resume.pt").exists()
    record, model_split = fit_line(split)
    assert "Resuming split.safetensors at step 1 of 30" in capsys.readouterr().out
    assert record["steps"] == 30 and not split.with_suffix(".resume.pt").exists()
    assert [v["step"] for v in record["validations"]] == [1, 7, 14, 21, 28, 30]
    # momentum, dropout's random state and the data order were all restored
    for a, b in zip(model_whole.parameters(), model_split.parameters(), strict=True):
        assert torch.equal(a, b)
    # a different run cannot silently continue that state
    fit_line(split, budget_minutes=0)
    with pytest.raises(ValueError, match="pass --fresh"):
        fit_line(split, steps=31)
    assert fit_line(split, steps=31, resume=False)[0]["steps"] == 31


def test_fit_rejects_a_diverging_run_and_bad_arguments(tmp_path):
    model = torch.nn.Linear(1, 1)
    opt = torch.optim.SGD(model.parameters(), lr=1e30)
    x = torch.ones(4, 1)

    def loss(m, b):
        return (m(b) ** 2).sum() * 1e30

    with pytest.raises(FloatingPointError, match="learning rate"):
        cu.training.fit(
            model, lambda s: x, loss, opt, steps=5, out=tmp_path / "m.safetensors", seed=0, data={}
        )
    with pytest.raises(ValueError, match="safetensors"):
        cu.training.fit(
            model, lambda s: x, loss, opt, steps=5, out=tmp_path / "m.pt", seed=0, data={}
        )


# --- the registry ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def line_checkpoint(tmp_path_factory):
    """Weights and record trained once by the fixture script (each planted repo copies them)."""
    weights = tmp_path_factory.mktemp("trained") / "line.safetensors"
    run_script(LINE_SCRIPT, "--out", weights, "--steps", 10)
    return weights


def planted_repo(tmp_path, line_checkpoint):
    """A repository with one registered, consistent checkpoint trained by the fixture script."""
    weights = tmp_path / "data" / "checkpoints" / "line.safetensors"
    weights.parent.mkdir(parents=True)
    shutil.copy(line_checkpoint, weights)
    shutil.copy(line_checkpoint.with_suffix(".json"), weights.with_suffix(".json"))
    (tmp_path / "nb.ipynb").write_text("{}")
    registry = tmp_path / "data" / "checkpoints" / "registry.toml"
    registry.write_text(
        '[line]\nweights = "data/checkpoints/line.safetensors"\n'
        f'script = "{LINE_SCRIPT.as_posix()}"\n'
        'args = ["--steps", "10", "--out", "data/checkpoints/line.safetensors"]\n'
        'used_by = ["nb.ipynb"]\n'
    )
    return registry, weights


def test_a_consistent_registry_has_no_problems(tmp_path, line_checkpoint):
    registry, weights = planted_repo(tmp_path, line_checkpoint)
    assert registry_problems(registry, root=tmp_path) == []
    entry = read_registry(registry, root=tmp_path)["line"]
    assert entry.command("python")[:4] == ["python", str(LINE_SCRIPT), "--steps", "10"]
    assert entry.record == weights.with_suffix(".json")


@pytest.mark.parametrize(
    ("plant", "problem"),
    [
        (lambda w, r: w.with_suffix(".json").unlink(), "has no record"),
        (lambda w, r: w.unlink(), "weights data/checkpoints/line.safetensors are missing"),
        (lambda w, r: save_model(torch.nn.Linear(1, 1), str(w)), "differs from the weights"),
        (
            lambda w, r: save_model(torch.nn.Linear(2, 1), str(w.with_name("stray.safetensors"))),
            "stray.safetensors is not in registry.toml",
        ),
        (
            lambda w, r: (w.with_name("orphan.json")).write_text('{"weights_sha256": "0"}'),
            "orphan.json is a record without its weights",
        ),
        (lambda w, r: r.write_text(r.read_text().replace("nb.ipynb", "gone.ipynb")), "gone.ipynb"),
        (lambda w, r: r.write_text(r.read_text().replace("train_line", "nope")), "does not exist"),
        (lambda w, r: r.write_text("[line]\nweights = 'x.safetensors'\n"), "lacks script"),
        (
            lambda w, r: w.with_suffix(".json").write_text('{"seed": 0}'),
            "its record lacks command",
        ),
    ],
    ids=[
        "no-record",
        "no-weights",
        "changed-weights",
        "unregistered",
        "orphan-record",
        "bad-notebook",
        "bad-script",
        "bad-entry",
        "short-record",
    ],
)
def test_registry_problems_are_found(tmp_path, line_checkpoint, plant, problem):
    registry, weights = planted_repo(tmp_path, line_checkpoint)
    plant(weights, registry)
    problems = registry_problems(registry, root=tmp_path)
    assert any(problem in p for p in problems), problems


def test_load_checkpoint_loads_checks_and_retrains(tmp_path, line_checkpoint, monkeypatch, capsys):
    registry, weights = planted_repo(tmp_path, line_checkpoint)
    monkeypatch.setattr(checkpoints, "REPO_DIR", tmp_path)
    monkeypatch.setattr(checkpoints, "read_registry", lambda path: read_registry(path, tmp_path))
    model = torch.nn.Linear(1, 1)
    record = cu.load_checkpoint(model, "line", registry=registry)
    assert record["steps"] == 10 and not model.training
    assert "Loaded data/checkpoints/line.safetensors: 10 steps" in capsys.readouterr().out
    with pytest.raises(KeyError, match="registered: line"):
        cu.load_checkpoint(model, "other", registry=registry)
    with pytest.raises(RuntimeError, match="COURSE_RETRAIN=1"):
        cu.load_checkpoint(torch.nn.Linear(2, 1), "line", registry=registry)
    save_model(torch.nn.Linear(1, 1), str(weights))
    with pytest.raises(ValueError, match="differs from the weights its record describes"):
        cu.load_checkpoint(model, "line", registry=registry)
    monkeypatch.setenv("COURSE_RETRAIN", "1")  # retraining repairs it
    assert cu.load_checkpoint(model, "line", registry=registry)["steps"] == 10


# --- the repository's own checkpoints -----------------------------------------------------------


def test_the_repository_registry_is_consistent():
    problems = registry_problems()
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", sorted(read_registry()))
def test_every_training_script_runs_one_step_on_tiny_data(name, tmp_path):
    entry = read_registry()[name]
    out = tmp_path / f"{name}.safetensors"
    run_script(entry.script, *entry.args, "--smoke", "--out", out, "--threads", 1, timeout=300)
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["steps"] == 1 and set(RECORD_FIELDS) <= set(record)

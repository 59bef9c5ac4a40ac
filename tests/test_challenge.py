"""The challenge harness: ``python -m course_utils.challenge make-testset`` and ``score``.

A tiny test set (two never-seen synthetic images, secret noise seed) is built through the
command line, then one ``score --json --out --html`` run scores the TV baseline, the
submission template, deliberately broken submissions, submissions that try to cheat and
submissions that exceed the resource limits (``tests/fixtures/challenge/``) together, in the
sandbox; the tests below read that run. Where the sandbox cannot start, the run uses
``--no-sandbox`` and the tests that need the sandbox are skipped, saying why.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open

from course_utils import challenge, make_physics, tikhonov_reconstruct
from course_utils.data import load_testset
from course_utils.metrics import psnr
from course_utils.paths import REPO_DIR

FIXTURES = Path(__file__).parent / "fixtures" / "challenge"
BASELINE = REPO_DIR / "solutions" / "challenge" / "tv_baseline"
TEMPLATE = REPO_DIR / "notebooks" / "submission_template"
SLEEPER: list = []  # (result, seconds, folder) of the too-slow submission, see `scored`
CONNECTIONS: list = []  # connections the loopback helper received, see `listener`
JSON_FIELDS = [
    *["name", "psnr", "ssim", "seconds", "weights_mb", "status", "error"],
    *["psnr_sem", "images", "psnr_per_image", "ssim_per_image", "sandboxed"],
]
SANDBOX_REASON = challenge.unavailable_reason()
needs_sandbox = pytest.mark.skipif(
    SANDBOX_REASON is not None, reason=f"the challenge sandbox cannot start here: {SANDBOX_REASON}"
)

# Submission folder name -> a keyword its error reason must contain.
BROKEN = {
    "import_error": "ModuleNotFoundError",
    "raises": "deliberate failure in reconstruct",
    "returns_nan": "36 NaN values",
    "wrong_shape": "(1, 3, 128, 128)",
    "no_load_reconstructor": "load_reconstructor",
    "missing_entry": "submission.py not found",
    "too_large": "weights total 150.0 MB > 100 MB limit",
    "pickle_file": "pickled files are not accepted",
    "unpickle_attack": "torch.load refused weights.pt",
}
# Submissions that exceed a resource limit -> the limit named in the reason.
OVER_LIMITS = {
    "memory_hog": "memory limit exceeded (4.0 GB",
    "fork_bomb": "process limit exceeded (64 processes",
    "disk_filler": "disk limit exceeded (the private /tmp holds 512.0 MB)",
}
# Submissions that try to read the ground truth; each must come back with an honest score.
CHEATERS = ["parent_snooper", "file_walker", "seed_searcher", "socket_caller"]


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "course_utils.challenge", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO_DIR,
    )


def write_images(folder: Path) -> None:
    """A 300x400 RGB PNG, a 200x180 grayscale JPEG and a text file, drawn for these tests."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(123)
    yy, xx = np.mgrid[0:300, 0:400] / 100.0
    smooth = np.stack([np.sin(xx + 2 * yy), np.cos(3 * xx - yy), np.sin(xx * yy)], axis=-1)
    rgb = 0.5 + 0.35 * smooth + 0.1 * rng.standard_normal((300, 400, 3))
    rgb[100:200, 150:260] = [0.9, 0.2, 0.1]  # a sharp-edged block, for the deblurring to show
    Image.fromarray((rgb.clip(0, 1) * 255).astype(np.uint8)).save(folder / "alpha.png")
    yy, xx = np.mgrid[0:180, 0:200]
    gray = 128 + 100 * ((xx // 25 + yy // 25) % 2) - 50 + rng.integers(-20, 20, (180, 200))
    Image.fromarray(gray.clip(0, 255).astype(np.uint8), mode="L").save(folder / "zebra.jpg")
    (folder / "notes.txt").write_text("not an image")


def tensors_and_metadata(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    with safe_open(str(path), framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, f.metadata()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("challenge")


@pytest.fixture(scope="module")
def made(workdir):
    """``make-testset`` run through the command line, with its default (secret) seed:
    (completed process, test-set path)."""
    write_images(workdir / "images")
    out = workdir / "testset.safetensors"
    proc = run_cli("make-testset", workdir / "images", out)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return proc, out


@pytest.fixture(scope="module")
def listener():
    """A loopback port where a helper would hand out the ground truth to anyone connecting."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    stop = threading.Event()
    payload = io.BytesIO()
    torch.save(torch.zeros(2, 3, 256, 256), payload)

    def serve():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            CONNECTIONS.append(conn.getpeername())
            with conn:
                conn.sendall(payload.getvalue())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    server.close()


def copy_fixture(name: str, dest: Path) -> Path:
    folder = dest / name
    shutil.copytree(FIXTURES / name, folder)
    return folder


class Evil:
    """Unpickling this runs ``touch MARKER``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


@pytest.fixture(scope="module")
def submissions(workdir, made, listener) -> dict[str, Path]:
    """The folders scored by the shared run, by name."""
    dest = workdir / "submissions"
    dest.mkdir()
    folders = {"tv_baseline": BASELINE, "submission_template": TEMPLATE}
    # Cheating and limit-breaking submissions only where the sandbox runs: without it a cheater
    # would win and the disk filler would fill the machine's /tmp.
    sandboxed = [*CHEATERS, *OVER_LIMITS] if SANDBOX_REASON is None else []
    for name in [*BROKEN, "ground_truth_probe", *sandboxed]:
        folders[name] = copy_fixture(name, dest)
    if "socket_caller" in folders:
        (folders["socket_caller"] / "probe.json").write_text(json.dumps({"port": listener}))
    with open(folders["too_large"] / "weights.safetensors", "wb") as f:
        f.truncate(150_000_000)  # sparse: 150 MB apparent size, nothing written to disk
    (folders["pickle_file"] / "model.pkl").write_bytes(b"\x80\x04N.")  # pickle of None
    attack = folders["unpickle_attack"]
    torch.save({"w": torch.ones(2)}, attack / "state.pt")
    torch.save({"w": torch.zeros(3), "payload": Evil(attack / "pwned.txt")}, attack / "weights.pt")
    (folders["ground_truth_probe"] / "probe.json").write_text(
        json.dumps({"testset": str(made[1].resolve())})
    )
    return folders


@pytest.fixture(scope="module")
def scored(workdir, made, submissions):
    """One ``score --json --out --html`` run over every submission: (process, results,
    leaderboard). The workers' logs go to ``workdir / "logs"``.

    Meanwhile, the sleeping submission is scored with a 10 s time limit in a thread (it is
    mostly idle), and its result is kept in ``SLEEPER``.
    """
    sleeper = copy_fixture("sleeper", workdir)
    testset = load_testset(made[1])
    sandboxed = SANDBOX_REASON is None

    def run_sleeper():
        start = time.perf_counter()
        result = challenge.score_submission(sleeper, testset, time_limit=10, use_sandbox=sandboxed)
        return result, time.perf_counter() - start, sleeper

    board, page, logs = workdir / "leaderboard.md", workdir / "leaderboard.html", workdir / "logs"
    args = [*submissions.values(), "--testset", made[1], "--json", "--out", board, "--html", page]
    args += ["--jobs", 2, "--log-dir", logs] + ([] if sandboxed else ["--no-sandbox"])
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(run_sleeper)
        proc = run_cli("score", *args, "--time-limit", 240, timeout=900)
        SLEEPER.append(future.result())
    assert proc.returncode == 0, proc.stderr
    results = {}
    for line in proc.stdout.splitlines():
        record = json.loads(line)
        results[record["name"]] = record
    return proc, results, board


# ---------------------------------------------------------------------------- make-testset


def test_make_testset_file(made):
    proc, path = made
    ts = load_testset(path)
    assert ts.names == ["alpha", "zebra"]  # file stems, sorted; notes.txt skipped
    assert ts.streams == "hashed" and ts.seed >= 2**20  # a secret seed, not a small one
    assert ts.x.shape == ts.y.shape == (2, 3, 256, 256)
    assert torch.equal(ts.x, torch.round(ts.x * 255) / 255)
    assert torch.equal(ts.x[1, 0], ts.x[1, 2])  # the gray image became RGB
    assert "skipping notes.txt" in proc.stdout
    assert "warning: zebra.jpg is only 200x180" in proc.stdout
    assert f"wrote 2 images with noise seed {ts.seed} (secret" in proc.stdout
    assert str(path) in proc.stdout
    assert f"sha256: {challenge.sha256_of(path)}" in proc.stdout
    # The worker gets measurements only; the file itself also holds the ground truth.
    assert set(tensors_and_metadata(path)[0]) == {"x", "y"}


def test_make_testset_draws_a_new_secret_seed_each_time():
    seeds = {challenge.new_seed() for _ in range(100)}
    assert len(seeds) == 100 and min(seeds) > 2**40  # 64 random bits: small ones are rare


def test_make_testset_is_reproducible(made, workdir):
    _, path = made
    seed = load_testset(path).seed
    same = challenge.build_testset_file(workdir / "images", workdir / "same.safetensors", seed)
    other = challenge.build_testset_file(workdir / "images", workdir / "other.safetensors", 8)
    assert load_testset(Path(other["path"])).seed == 8
    t0, m0 = tensors_and_metadata(path)
    t1, m1 = tensors_and_metadata(Path(same["path"]))
    t2, _ = tensors_and_metadata(Path(other["path"]))
    assert m0 == m1 and all(torch.equal(t0[k], t1[k]) for k in t0)
    assert same["content_sha256"] == challenge.content_digest(path) != other["content_sha256"]
    assert torch.equal(t0["x"], t2["x"])
    assert not torch.allclose(t0["y"], t2["y"])


@pytest.mark.parametrize(
    "setup, message",
    [
        (None, "does not exist"),
        (lambda d: (d / "readme.md").write_text("x"), "no images in"),
        (lambda d: (d / "broken.png").write_bytes(b"not a png"), "cannot read image"),
        (
            lambda d: [
                Image.new("RGB", (300, 300)).save(d / "a.png"),
                Image.new("RGB", (300, 300)).save(d / "a.jpg"),
            ],
            "a.jpg and a.png would both be named 'a'",
        ),
    ],
    ids=["missing-folder", "no-images", "unreadable", "duplicate-stem"],
)
def test_make_testset_errors(tmp_path, capsys, setup, message):
    folder = tmp_path / "images"
    if setup is not None:
        folder.mkdir()
        setup(folder)
    out = tmp_path / "out.safetensors"
    assert challenge.main(["make-testset", str(folder), str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err
    if "unreadable" in message:
        assert "broken.png" in err
    assert not out.exists()


# ----------------------------------------------------------------------------------- score


def test_json_lines_have_exactly_the_fields(scored, submissions, made):
    proc, results, _ = scored
    assert list(results) == list(submissions)  # one line per submission, in the order given
    assert challenge.JSON_FIELDS == JSON_FIELDS  # the documented list, in order
    for line in proc.stdout.splitlines():
        assert list(json.loads(line)) == JSON_FIELDS
    r = results["tv_baseline"]
    assert r["images"] == ["alpha", "zebra"] and len(r["psnr_per_image"]) == 2
    assert r["psnr"] == pytest.approx(sum(r["psnr_per_image"]) / 2, abs=1e-3)
    assert r["ssim"] == pytest.approx(sum(r["ssim_per_image"]) / 2, abs=1e-4)
    assert r["psnr_sem"] == pytest.approx(
        abs(r["psnr_per_image"][0] - r["psnr_per_image"][1]) / 2, abs=1e-3
    )
    assert r["sandboxed"] is (SANDBOX_REASON is None)
    broken = results["raises"]
    assert broken["psnr_per_image"] is None and broken["ssim_per_image"] is None


def test_baseline_beats_the_blurred_input(scored, made):
    ts = load_testset(made[1])
    r = scored[1]["tv_baseline"]
    assert r["status"] == "ok" and r["error"] is None
    assert r["psnr"] > float(psnr(ts.y, ts.x).mean()) + 1.0
    assert 0 < r["ssim"] <= 1
    assert r["seconds"] > 0 and r["weights_mb"] < 0.01


def test_template_runs_as_is(scored):
    r = scored[1]["submission_template"]
    assert r["status"] == "ok", r["error"]
    assert r["psnr"] > 10


@pytest.mark.parametrize("name", list(BROKEN))
def test_broken_submission_is_reported(scored, name):
    r = scored[1][name]
    assert r["status"] == "error"
    assert BROKEN[name] in r["error"]
    assert r["psnr"] is None and r["ssim"] is None
    assert r["weights_mb"] is not None


def test_error_reasons_point_at_the_problem(scored):
    results = scored[1]
    assert "submission.py, line 3" in results["import_error"]["error"]
    # the worker knows images by index only; the scorer adds the names
    assert "on image 1 of 2 ('alpha')" in results["raises"]["error"]
    assert "output for image 1 of 2 ('alpha')" in results["returns_nan"]["error"]
    assert "expected (1, 3, 256, 256)" in results["wrong_shape"]["error"]
    assert "model.pkl" in results["pickle_file"]["error"]


def test_rule_breakers_are_not_run(scored, submissions):
    assert scored[1]["too_large"]["weights_mb"] == pytest.approx(150.0, abs=0.01)
    assert scored[1]["too_large"]["seconds"] is None
    assert not (submissions["too_large"] / "was_run.txt").exists()


def test_pickled_code_is_never_run(scored, submissions):
    assert "weights_only=True" in scored[1]["unpickle_attack"]["error"]
    assert "GLOBAL posix.system" in scored[1]["unpickle_attack"]["error"]
    assert not (submissions["unpickle_attack"] / "pwned.txt").exists()


def worker_log(workdir, name):
    """What a submission printed (its stdout), from the shared run's --log-dir."""
    text = (workdir / "logs" / f"{name}.log").read_text()
    return text.split("=== stdout ===\n", 1)[1].split("\n=== stderr ===", 1)[0]


def test_worker_never_sees_the_ground_truth(scored, workdir):
    r = scored[1]["ground_truth_probe"]
    assert r["status"] == "ok", r["error"]
    report = json.loads(worker_log(workdir, "ground_truth_probe").strip().splitlines()[-1])
    assert report["leaks"] == []
    readable = {p: info for p, info in report["files"].items() if info["keys"] is not None}
    assert [info["keys"] for info in readable.values()] == [["y"]]
    (metadata,) = [info["metadata"] for info in readable.values()]
    assert "names" not in metadata and "seed" not in metadata  # measurements only


def honest_psnr(made, method):
    """Mean PSNR on the shared test set of an honest method: the measurement itself, or
    the Tikhonov reconstruction."""
    ts = load_testset(made[1])
    if method == "measurement":
        return float(psnr(ts.y, ts.x).mean())
    return float(psnr(tikhonov_reconstruct(ts.y, make_physics()), ts.x).mean())


@needs_sandbox
@pytest.mark.parametrize(
    ("name", "honest"),
    [
        ("parent_snooper", "measurement"),
        ("file_walker", "measurement"),
        ("seed_searcher", "tikhonov"),
        ("socket_caller", "measurement"),
    ],
)
def test_a_cheater_gets_only_an_honest_score(scored, made, name, honest):
    r = scored[1][name]
    assert r["status"] == "ok", r["error"]
    assert r["sandboxed"] is True
    assert r["psnr"] == pytest.approx(honest_psnr(made, honest), abs=0.01), r
    assert r["psnr"] < 40  # the ground truth would score about 80 dB or more


@needs_sandbox
def test_cheaters_saw_no_other_process_no_file_no_port(scored, workdir, made):
    snooper = json.loads(worker_log(workdir, "parent_snooper").strip().splitlines()[-1])
    assert snooper["found_truth"] is False
    assert not any("testset" in p for p in snooper["paths"]), snooper  # nor the set's name
    if os.geteuid() == 0:  # scored as root: the worker hid everything but itself
        assert len(snooper["pids"]) == 1 and snooper["paths"] == [], snooper
    assert len(snooper["pids"]) <= 2  # itself, and at most bwrap's init: none of ours
    walker = json.loads(worker_log(workdir, "file_walker").strip().splitlines()[-1])
    assert walker["testsets"] == [], walker
    assert walker["visited"] > 1000  # it did walk (the Python environment is visible) ...
    # ... and the only images it found ship with the Python packages (skimage, matplotlib)
    environment = (str(Path(sys.prefix).resolve()), str(Path(sys.base_prefix).resolve()))
    outside = [f for f in walker["image_folders"] if not f.startswith(environment)]
    assert outside == [], outside
    assert not any(str(workdir) in f for f in walker["image_folders"])
    assert CONNECTIONS == []  # nobody reached the loopback helper
    caller = json.loads(worker_log(workdir, "socket_caller").strip().splitlines()[-1])
    assert caller["connected"] is False and caller["reason"]
    assert "removes the noise exactly" not in worker_log(workdir, "seed_searcher")


@needs_sandbox
def test_the_seed_search_is_a_real_threat_with_a_guessable_seed(workdir, made):
    """Negative control: the same searching submission wins outright when the instructor
    picks a small seed by hand, so the secret default seed is what stops it."""
    images = workdir / "one_image"
    images.mkdir()
    shutil.copy(workdir / "images" / "alpha.png", images / "alpha.png")
    small = workdir / "small_seed.safetensors"
    assert challenge.build_testset_file(images, small, seed=5, log=lambda m: None)["seed"] == 5
    folder = copy_fixture("seed_searcher", workdir / "control")
    r = challenge.score_submission(folder, load_testset(small), time_limit=240)
    assert r.status == "ok", r.error
    assert r.psnr > 60, r


@needs_sandbox
@pytest.mark.parametrize("name", list(OVER_LIMITS))
def test_a_submission_over_a_resource_limit_is_reported_with_the_limit(scored, name):
    r = scored[1][name]
    assert r["status"] == "error" and OVER_LIMITS[name] in r["error"], r["error"]
    assert r["sandboxed"] is True


@needs_sandbox
def test_the_limits_stop_each_abuse_early(workdir):
    forked = int(re.search(r"forked (\d+) children", worker_log(workdir, "fork_bomb"))[1])
    assert 32 <= forked < 64  # 64 processes and threads in all, the worker's own included
    wrote = int(re.search(r"wrote (\d+) MB", worker_log(workdir, "disk_filler"))[1])
    assert 400 < wrote <= 512  # the private /tmp is 512 MB (10^6 bytes each)


def test_leaderboard_is_ranked(scored):
    _, results, board = scored
    text = board.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| ") and "`" in line]
    names = [row.split("`")[1] for row in rows]
    ok = sorted((r for r in results.values() if r["status"] == "ok"), key=lambda r: -r["psnr"])
    assert names[: len(ok)] == [r["name"] for r in ok]
    assert rows[0].startswith("| 1 | `")
    over = list(OVER_LIMITS) if SANDBOX_REASON is None else []
    assert sorted(names[len(ok) :]) == sorted([*BROKEN, *over])
    for row in rows[len(ok) :]:
        name = row.split("`")[1]
        assert row.startswith("| – |") and "error: " in row
        assert {**BROKEN, **OVER_LIMITS}[name].replace("|", "\\|") in row
    assert "testset.safetensors" in text and "2 images" in text


def test_the_html_leaderboard_is_one_page_with_pictures(scored, workdir):
    _, results, _ = scored
    page = (workdir / "leaderboard.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "src='http" not in page  # self-contained
    ok = [name for name, r in results.items() if r["status"] == "ok"]
    # per scored submission: 2 images (the test set's), each truth, measurement, reconstruction
    assert page.count("<figure>") == 2 * len(ok)
    assert page.count("src='data:image/png;base64,") == 3 * 2 * len(ok)
    assert page.index("tv_baseline") < page.index("submission_template")  # ranked
    assert "deliberate failure in reconstruct" in page  # errors listed with their reason


def test_time_limit_kills_the_worker_and_its_children(scored):
    r, elapsed, folder = SLEEPER[0]
    assert r.status == "error" and "time limit exceeded" in r.error
    assert r.seconds == pytest.approx(10, abs=3) and elapsed < 20
    if sys.platform.startswith("linux"):

        def alive_children():
            found = []
            for entry in Path("/proc").iterdir():
                try:
                    cmdline = (entry / "cmdline").read_bytes()
                    state = (entry / "stat").read_text().split(") ")[1][0]
                except (OSError, IndexError):
                    continue
                if b"sleeper-child-4f1c" in cmdline and state != "Z":
                    found.append(entry.name)
            return found

        for _ in range(50):  # an orphaned child is reaped asynchronously
            if not alive_children():
                break
            time.sleep(0.1)
        else:
            pytest.fail(
                f"the submission's child process survived the time limit: {alive_children()}"
            )


# ------------------------------------------------------------------ command-line handling


def test_score_usage_errors(made, tmp_path, capsys):
    sub = str(BASELINE)
    assert challenge.main(["score", sub, "--testset", str(tmp_path / "nope.st")]) == 2
    assert "no test-set file" in capsys.readouterr().err
    assert challenge.main(["score", str(tmp_path / "nope"), "--testset", str(made[1])]) == 2
    assert "submission folder(s) not found" in capsys.readouterr().err
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"junk")
    assert challenge.main(["score", sub, "--testset", str(bad)]) == 2
    assert "not a safetensors test-set file" in capsys.readouterr().err
    for args in (["score"], ["score", sub, "--time-limit", "0"], ["frobnicate"]):
        with pytest.raises(SystemExit) as exc:
            challenge.main(args)
        assert exc.value.code == 2
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        challenge.main(["score", "--help"])
    assert exc.value.code == 0
    assert "dev set" in capsys.readouterr().out
    path, dev = challenge._load_testset_arg(None)  # no --testset: the public dev set
    assert path == challenge.DEV_SET_FILE and len(dev.names) == 5 and dev.x is not None


def test_without_a_sandbox_a_hidden_test_set_needs_an_explicit_no_sandbox(
    made, tmp_path, capsys, monkeypatch
):
    """Where bubblewrap cannot start (simulated here), the dev set is still scored, a hidden
    test set is refused, and --no-sandbox scores it with a warning naming the risks."""
    from course_utils.challenge import sandbox

    monkeypatch.setattr(sandbox, "unavailable_reason", lambda: "bubblewrap is not installed")
    broken = str(copy_fixture("missing_entry", tmp_path))  # rejected before any worker starts
    assert challenge.main(["score", broken, "--testset", str(made[1])]) == 2
    err = capsys.readouterr().err
    assert "the sandbox cannot start here: bubblewrap is not installed" in err
    assert "--no-sandbox" in err and "ground truth" in err
    assert challenge.main(["score", broken, "--testset", str(made[1]), "--no-sandbox"]) == 0
    err = capsys.readouterr().err
    assert "warning: --no-sandbox" in err and "read your home directory" in err
    assert challenge.main(["score", broken]) == 0  # the public dev set: scored, with a note
    assert "scoring on the public dev set without it" in capsys.readouterr().err


def test_score_table_output(made, tmp_path, capsys):
    """Submissions that break the file rules are rejected without starting a worker."""
    missing = copy_fixture("missing_entry", tmp_path)
    pickled = copy_fixture("pickle_file", tmp_path)
    (pickled / "model.pickle").write_bytes(b"\x80\x04N.")
    assert challenge.main(["score", str(missing), str(pickled), "--testset", str(made[1])]) == 0
    out = capsys.readouterr().out
    header, *rows = out.splitlines()
    assert header.split()[:4] == ["rank", "submission", "PSNR", "(dB)"]
    assert rows[0].split()[:2] == ["-", "missing_entry"] and rows[0].endswith("error")
    assert "pickle_file: model.pickle: pickled files are not accepted" in out


@pytest.mark.parametrize(
    "output, message",
    [
        ([[0.0]], "is a list, expected a torch.Tensor"),
        (torch.zeros(1, 3, 256, 256, dtype=torch.uint8), "dtype torch.uint8"),
        (torch.full((1, 3, 256, 256), float("inf")), "196608 infinite values"),
        (torch.zeros(3, 256, 256), "has shape (3, 256, 256), expected (1, 3, 256, 256)"),
    ],
    ids=["list", "uint8", "inf", "no-batch-axis"],
)
def test_output_checks(output, message):
    with pytest.raises(challenge.SubmissionFailure, match="output for image 1 of 1") as exc:
        challenge.check_output(output, "image 1 of 1", torch.Size((1, 3, 256, 256)))
    assert message in str(exc.value)


def test_rank_breaks_ties_by_ssim():
    def r(name, p, s, status="ok"):
        return challenge.Result(name, p, s, 1.0, 0.0, status, None if status == "ok" else "x")

    results = [r("b", 25.0, 0.7), r("err", None, None, "error"), r("a", 25.0, 0.8), r("c", 26, 0.1)]
    assert [(k, x.name) for k, x in challenge.rank(results)] == [
        (1, "c"),
        (2, "a"),
        (3, "b"),
        (None, "err"),
    ]


@pytest.mark.parametrize(
    "extra, limit_mb, message",
    [
        ({}, 100, None),
        ({"model.safetensors": 2000}, 0.001, "weights total 0.00214 MB > 0.001 MB limit"),
        ({"helper.so": 10}, 100, "helper.so: file type '.so' is not allowed"),
        ({"sub/LICENSE": 10}, 100, "sub/LICENSE: a file without suffix is not allowed"),
        ({"sub/m.joblib": 10}, 100, "sub/m.joblib: pickled files are not accepted"),
        ({"__pycache__/submission.cpython-311.pyc": 10**6}, 0.5, None),
        ({"link": "symlink"}, 100, "link: symbolic links are not allowed"),
    ],
    ids=["ok", "too-large", "so", "no-suffix", "joblib", "pycache-ignored", "symlink"],
)
def test_file_rules(tmp_path, extra, limit_mb, message):
    (tmp_path / "submission.py").write_text("x" * 140)
    for rel, size in extra.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if size == "symlink":
            path.symlink_to(tmp_path / "submission.py")
        else:
            path.write_bytes(b"0" * size)
    total_mb, reason = challenge.check_submission_files(tmp_path, limit_mb)
    assert reason == message if message is None else message in reason
    if not extra:
        assert total_mb == 140 / 1e6


def test_owner_only_files_are_named_when_the_worker_runs_as_another_user(tmp_path):
    from course_utils.challenge.scoring import unreadable_files

    weights = tmp_path / "weights.safetensors"
    weights.write_bytes(b"0")
    weights.chmod(0o600)  # what safetensors' save_model writes
    me = os.getuid()
    assert unreadable_files(tmp_path, me) == []
    assert unreadable_files(tmp_path, me + 1) == ["weights.safetensors"]
    weights.chmod(0o644)
    assert unreadable_files(tmp_path, me + 1) == []

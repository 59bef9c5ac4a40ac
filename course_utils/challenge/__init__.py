"""The deblurring challenge harness: build a test-set file, and score submissions on it.

A program of its own, split by noun: :mod:`.testset` (making test sets), :mod:`.rules` (file
rules and limits), :mod:`.sandbox` (the bubblewrap sandbox and resource limits),
:mod:`.worker` (what runs inside it), :mod:`.scoring` (running and measuring),
:mod:`.report` (ranking, tables, leaderboards) and :mod:`.cli` (the command line).

Command line (``python -m course_utils.challenge --help``)::

    # instructors: turn a folder of clean images into a test-set file (measurements + truth)
    python -m course_utils.challenge make-testset IMAGE_DIR OUT_FILE [--seed N]

    # everyone: score one or more submission folders (default test set: the public dev set)
    python -m course_utils.challenge score SUBMISSION [SUBMISSION ...]
        [--testset FILE] [--json] [--out leaderboard.md] [--html leaderboard.html]
        [--time-limit SECONDS] [--max-weights-mb MB] [--jobs N] [--threads N]
        [--memory-limit-gb GB] [--max-processes N] [--max-file-mb MB] [--tmp-mb MB]
        [--no-sandbox] [--log-dir DIR]

make-testset
------------
Every PNG/JPEG/TIFF/BMP/WebP file of ``IMAGE_DIR`` (top level, any size, gray or colour)
becomes one test image, named after its file stem; images are taken in sorted name order, so
the file does not depend on the order the file system lists them in. Each image is resized so
its shorter side is 256 pixels (antialiased bilinear, :func:`course_utils.images.to_official_size`)
and its centre 256x256 square is kept; images smaller than that are upsampled, with a
warning. Ground truth is rounded to 8 bits; image ``i`` gets the official blur and noise with
the noise seed :func:`course_utils.physics.noise_seed` ``(seed, i)``, a hash of both, so one
image's noise says nothing about another's. Without ``--seed`` the seed is drawn from the
operating system's cryptographic source (64 bits) and printed for the record: a seed that a
student could guess (0, 1, 12345, ...) lets a submission subtract the noise exactly and invert
the blur, so never choose one by hand for a hidden test set. The output is a safetensors
file (:func:`course_utils.data.save_testset`): it holds tensors and text only, so loading it
never runs code. Other files are skipped with a note; an empty folder, an unreadable image or
two images with the same stem (``a.png`` and ``a.jpg``) are errors.

safetensors writes its metadata in an arbitrary order, so two runs with the same images and
seed give files with identical tensors and metadata but possibly different bytes. The summary
therefore prints, besides the file's sha256, a *content digest* (of the tensors and the sorted
metadata) that is the same from one run to the next.

Submissions
-----------
A submission is a folder holding an entry point ``submission.py`` and, optionally, weight
files. ``submission.py`` defines::

    def load_reconstructor(folder: pathlib.Path) -> Callable[[Tensor, Physics], Tensor]:
        '''Called once, with the submission's own folder (to find weight files).
        Returns reconstruct(y, physics): y is (B, 3, 256, 256) float32 on CPU;
        returns x_hat of the same shape.'''

* ``reconstruct`` is called once per test image, with ``B = 1`` (one image at a time, so
  memory stays small), and ``physics`` the challenge operator
  (:func:`course_utils.physics.make_physics` on the CPU). Gradients are not disabled: wrap
  network calls in ``torch.no_grad()`` yourself.
* The output must be a floating-point tensor of the input's shape, without NaN or infinite
  values; it is clamped to [0, 1] and scored with :func:`course_utils.metrics.psnr` and
  :func:`course_utils.metrics.ssim`. The score of a submission is the mean over the test set.
* The submission's folder (``/submission`` in the sandbox) is the working directory and is on
  ``sys.path``, so ``submission.py`` may import helper modules that sit next to it; it is
  read-only (write scratch files to ``/tmp``). ``torch.manual_seed(0)`` is called before
  ``load_reconstructor``.
* ``notebooks/submission_template/`` is a working example to copy;
  ``solutions/challenge/tv_baseline/`` is the TV baseline.

Rules enforced by ``score``
---------------------------
* Files: every file of the folder (recursively, except ``__pycache__``) counts towards a
  limit of 100 MB (``--max-weights-mb``; 1 MB = 10^6 bytes), and must have one of the
  suffixes in :data:`ALLOWED_SUFFIXES`. Pickle files (``.pkl``, ``.pickle``, ``.joblib``, ...)
  are refused: save weights with safetensors, or with ``torch.save(model.state_dict())``.
  A submission breaking these rules is not run.
* Weights are loaded without running pickled code: in the worker, ``torch.load`` always uses
  ``weights_only=True`` (a call with ``weights_only=False`` is overridden, and fails if the
  file needs pickled objects) and ``numpy.load`` always uses ``allow_pickle=False``.
* Inference runs on the CPU (``CUDA_VISIBLE_DEVICES=""``), in a separate worker process per
  submission, inside a sandbox (:mod:`.sandbox`): it sees only the Python environment,
  ``course_utils``, the kernel, its own folder (read-only) and a file holding only the
  measurements (no ground truth, no image names, no seed); it has no network, no view of other
  processes, and a private ``/tmp``. It writes its reconstructions to a pipe.
* Resources: at most 4 GB of memory (``--memory-limit-gb``), 64 processes and threads
  (``--max-processes``), 256 MB per file written, stdout included (``--max-file-mb``), and a
  512 MB private ``/tmp`` (``--tmp-mb``). A submission that hits a limit is reported with
  the limit it hit, and the others are scored as usual.
* Time: the whole test set within 20 minutes (``--time-limit``), counted from starting the
  worker process (so importing, building the model and loading weights count) to the end of
  the last reconstruction; the worker exits as soon as it has written its output. A worker
  still running at the limit is killed with its whole process group. ``seconds`` reports the
  measured wall time, for successful submissions too.
* A broken submission (missing ``submission.py`` or ``load_reconstructor``, an exception,
  wrong output shape, NaN values, too slow, too large, ...) gets status ``error`` with the
  reason; the other submissions are scored as usual.

Where the sandbox cannot start (macOS, Windows, a kernel without user namespaces), ``score``
says why. It still scores the public dev set (a student's own submission, on their machine),
but refuses a hidden test set (``--testset``) unless ``--no-sandbox`` is given, which warns
what a submission could then read: your files, the test set with its ground truth, the
scorer's command line and environment, and the network.

Output of ``score``
-------------------
A table on stdout, ranked as :mod:`.report` says (mean PSNR; neighbours tied within the noise
of their paired difference are marked ≈ and ordered by mean SSIM; errors last), or with
``--json`` one JSON object per line and submission, in the order given, with exactly the
fields of :data:`JSON_FIELDS`: ``name`` (the folder's name), ``psnr``, ``ssim`` (means over
the test set; ``null`` on error), ``seconds``, ``weights_mb``, ``status`` (``"ok"`` or
``"error"``), ``error`` (the reason, or ``null``), then ``psnr_sem`` (the standard error of the
mean PSNR), ``images`` (the test images' names), ``psnr_per_image`` and ``ssim_per_image``
(in the order of ``images``; ``null`` on error) and ``sandboxed`` (whether the worker ran in
the sandbox). ``--out FILE`` also writes the ranked table as a Markdown leaderboard, and
``--html FILE`` a self-contained page with thumbnails of the first test images (truth,
measurement, reconstruction) for each submission. Progress goes to stderr. The exit code is
0 whenever scoring ran, even if submissions failed, and 2 for bad
usage (missing test-set file or submission folder, ...).
"""

from __future__ import annotations

from ..data import DEV_SET_FILE
from ..paths import sha256_of
from .cli import _load_testset_arg, main
from .report import format_table, leaderboard_html, leaderboard_markdown, rank, tied_within_noise
from .rules import (
    ALLOWED_SUFFIXES,
    DEFAULT_MAX_WEIGHTS_MB,
    DEFAULT_TIME_LIMIT,
    ENTRY_POINT,
    PICKLE_SUFFIXES,
    UsageError,
    check_submission_files,
    submission_files,
)
from .sandbox import Limits, unavailable_reason
from .scoring import JSON_FIELDS, Result, score_submission, score_submissions
from .testset import IMAGE_SUFFIXES, build_testset_file, collect_images, content_digest, new_seed
from .worker import SubmissionFailure, check_output

__all__ = [
    "ALLOWED_SUFFIXES",
    "DEFAULT_MAX_WEIGHTS_MB",
    "DEFAULT_TIME_LIMIT",
    "DEV_SET_FILE",
    "ENTRY_POINT",
    "IMAGE_SUFFIXES",
    "JSON_FIELDS",
    "Limits",
    "PICKLE_SUFFIXES",
    "Result",
    "SubmissionFailure",
    "UsageError",
    "build_testset_file",
    "check_output",
    "check_submission_files",
    "collect_images",
    "content_digest",
    "format_table",
    "leaderboard_html",
    "leaderboard_markdown",
    "main",
    "new_seed",
    "rank",
    "score_submission",
    "score_submissions",
    "sha256_of",
    "submission_files",
    "tied_within_noise",
    "unavailable_reason",
    "_load_testset_arg",
]

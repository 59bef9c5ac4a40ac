"""Challenge reference submission: the total-variation (TV) baseline.

Isotropic TV deblurring solved with Chambolle-Pock (:func:`course_utils.tv_reconstruct`), with
the weight and iteration count tuned on the dev set (``course_utils.baseline.TV_LAMBDA`` and
``TV_ITERS``). No weights: the folder holds only this file.

Score it on the dev set with::

    python -m course_utils.challenge score solutions/challenge/tv_baseline
"""

from __future__ import annotations

from pathlib import Path

from course_utils.baseline import TV_ITERS, TV_LAMBDA, tv_reconstruct


def load_reconstructor(folder: Path):
    """Return ``reconstruct(y, physics)``; ``folder`` is unused (no weight files)."""

    def reconstruct(y, physics):
        return tv_reconstruct(y, physics, lam=TV_LAMBDA, n_iter=TV_ITERS)

    return reconstruct

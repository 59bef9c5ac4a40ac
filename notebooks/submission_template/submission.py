"""Challenge submission template: copy this folder, then edit ``load_reconstructor``.

    cp -r notebooks/submission_template my_submission
    python -m course_utils.challenge score my_submission        # scores on the dev set

The contract
------------
The scorer imports this file and calls, once::

    reconstruct = load_reconstructor(folder)   # folder: pathlib.Path of this submission

then, for each test image, ``x_hat = reconstruct(y, physics)`` where

* ``y`` is a float32 tensor of shape ``(1, 3, 256, 256)`` on the CPU (one image at a time),
* ``physics`` is the challenge operator (``course_utils.make_physics()``: ``physics.A``,
  ``physics.A_adjoint``, ``physics.prox_l2``, ...),

and ``x_hat`` must be a floating-point tensor of the same shape, without NaN values. It is
clamped to [0, 1] and scored with mean PSNR (ties within noise ordered by SSIM).

Rules: CPU only, at most 20 minutes for the whole test set (importing and loading weights
included), at most 100 MB of files in this folder, allowed file types .py .safetensors .pt
.pth .npy .npz .json .txt .md .yaml .yml. No pickles: save weights with safetensors (see
below); ``torch.load`` is forced to ``weights_only=True`` during scoring. Scoring runs in a
sandbox: this folder is read-only (scratch files go to /tmp), no network, at most 4 GB of
memory.

As it stands the template returns the Tikhonov (Wiener) reconstruction, so it runs as-is.
"""

from __future__ import annotations

from pathlib import Path

import torch

from course_utils import tikhonov_reconstruct


def load_reconstructor(folder: Path):
    """Build the method once (load weights from ``folder`` here); return ``reconstruct``."""

    def reconstruct(y: torch.Tensor, physics) -> torch.Tensor:
        with torch.no_grad():
            return tikhonov_reconstruct(y, physics)

    return reconstruct


# ----------------------------------------------------------------------------------------
# Example with a learned model. Train it in a notebook, then save its weights *into this
# folder* with safetensors (a plain file of tensors: loading it never runs code):
#
#     from safetensors.torch import save_file
#     save_file(model.state_dict(), "my_submission/model.safetensors")
#
# and replace load_reconstructor above by:
#
# from safetensors.torch import load_file
#
#
# class TinyResidualNet(torch.nn.Module):
#     """Refines the Tikhonov estimate: x_hat = x0 + net(x0)."""
#
#     def __init__(self, width: int = 32):
#         super().__init__()
#         self.net = torch.nn.Sequential(
#             torch.nn.Conv2d(3, width, 3, padding=1),
#             torch.nn.ReLU(),
#             torch.nn.Conv2d(width, width, 3, padding=1),
#             torch.nn.ReLU(),
#             torch.nn.Conv2d(width, 3, 3, padding=1),
#         )
#
#     def forward(self, x):
#         return x + self.net(x)
#
#
# def load_reconstructor(folder: Path):
#     model = TinyResidualNet()
#     model.load_state_dict(load_file(folder / "model.safetensors"))  # never a bare path
#     model.eval()
#
#     def reconstruct(y, physics):
#         with torch.no_grad():
#             return model(tikhonov_reconstruct(y, physics))
#
#     return reconstruct
#
# Put the model class in this file (or in a module next to it: the folder is on sys.path).

"""Shared code of the course *Mathematics for Deep Learning: deep learning for imaging
inverse problems*.

The most used names are re-exported here, so notebooks can write ``import course_utils as cu``
and then ``cu.make_physics()``, ``cu.psnr(x_hat, x)``, ``cu.load_dev_set()``, ...
"""

from . import autoencoder, bilevel, digits, lista, primal_dual, regularisers, tomography
from .baseline import tikhonov_reconstruct, tv_objective, tv_reconstruct
from .checkpoints import load_checkpoint
from .data import (
    EllipsePhantomDataset,
    PatchDataset,
    challenge_patches,
    load_dev_set,
    load_testset,
    make_loader,
    random_ellipse_phantom,
    training_patches,
)
from .digits import inpainting_problem, load_digits, render_glyphs
from .gradients import (
    directional_derivative,
    finite_difference_gradient,
    relative_error,
    saved_tensor_bytes,
    vjp,
)
from .images import centre_crop, list_images, load_image, load_image_file, to_official_size
from .metrics import psnr, ssim
from .networks import n_params
from .physics import (
    IMAGE_SHAPE,
    NOISE_SIGMA,
    adjoint_test,
    fft_blur,
    kernel_spectrum,
    load_kernel,
    make_physics,
    measure,
    padded_kernel,
)
from .plotting import plot_comparison
from .regularisers import FieldOfExperts, HuberTV, huber, huber_tv
from .runtime import choose, get_device, is_fast, seed_everything, time_call
from .training import train
from .validate import check_images

__all__ = [
    "autoencoder",
    "bilevel",
    "digits",
    "lista",
    "primal_dual",
    "regularisers",
    "tomography",
    "FieldOfExperts",
    "HuberTV",
    "huber",
    "huber_tv",
    "adjoint_test",
    "centre_crop",
    "challenge_patches",
    "check_images",
    "choose",
    "directional_derivative",
    "EllipsePhantomDataset",
    "fft_blur",
    "finite_difference_gradient",
    "get_device",
    "IMAGE_SHAPE",
    "is_fast",
    "kernel_spectrum",
    "list_images",
    "load_checkpoint",
    "load_dev_set",
    "load_digits",
    "render_glyphs",
    "inpainting_problem",
    "load_image",
    "load_image_file",
    "load_kernel",
    "load_testset",
    "make_loader",
    "make_physics",
    "measure",
    "n_params",
    "NOISE_SIGMA",
    "padded_kernel",
    "PatchDataset",
    "plot_comparison",
    "psnr",
    "random_ellipse_phantom",
    "relative_error",
    "saved_tensor_bytes",
    "seed_everything",
    "ssim",
    "tikhonov_reconstruct",
    "time_call",
    "to_official_size",
    "train",
    "training_patches",
    "tv_objective",
    "tv_reconstruct",
    "vjp",
]

"""Datasets and test-set files: training patches, the challenge's training photographs,
ellipse phantoms, and the files of the challenge's dev and hidden test sets.

The images themselves (catalogue, splits, licences, loading, resizing) are in
:mod:`course_utils.images`. Images are tensors ``(C, H, W)`` or batches ``(B, C, H, W)``,
float32 in [0, 1].
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

from .images import (
    IMAGES,
    _convert_channels,
    list_images,
    load_image,
    quantize_8bit,
    to_official_scale,
    to_official_size,
)
from .paths import DATA_DIR, sha256_of, verify_file
from .validate import check_images


def make_loader(
    *tensors: Tensor, batch_size: int, seed: int = 0, shuffle: bool = True
) -> torch.utils.data.DataLoader:
    """A DataLoader over ``TensorDataset(*tensors)`` whose shuffling is seeded by ``seed``.

    Every epoch draws a new order, and the sequence of orders is the same on every run. Pass
    a :class:`torch.utils.data.Dataset` as the only positional argument to load it instead.
    """
    if len(tensors) == 1 and isinstance(tensors[0], torch.utils.data.Dataset):
        dataset = tensors[0]
    else:
        lengths = {len(t) for t in tensors}
        if not tensors or len(lengths) != 1:
            raise ValueError(
                f"pass tensors with the same first dimension, got lengths {sorted(lengths)}."
            )
        dataset = torch.utils.data.TensorDataset(*tensors)
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        generator=torch.Generator().manual_seed(seed),
    )


# ---------------------------------------------------------------------- training patches


def _item_generator(seed: int, i: int, length: int) -> torch.Generator:
    """The generator of item ``i`` of a reproducible random dataset of ``length`` items."""
    if not 0 <= i < length:
        raise IndexError(f"index {i} is out of range for a dataset of {length} items.")
    return torch.Generator().manual_seed(seed * 1_000_003 + i)


class PatchDataset(torch.utils.data.Dataset):
    """Random square patches from a list of images, with random flips and 90° rotations.

    Item ``i`` is always the same patch (drawn with a generator seeded by ``seed`` and ``i``),
    so a training run is reproducible. Images are picked with probability proportional to
    their number of possible patch positions.

    :param images: tensors ``(C, H, W)`` with the same ``C``, each at least ``patch_size``.
    :param n_patches: length of the dataset.
    :param augment: apply one of the 8 flips/rotations of the square, uniformly at random.
    :returns: items of shape ``(C, patch_size, patch_size)``.
    """

    def __init__(
        self,
        images: list[Tensor],
        patch_size: int = 64,
        n_patches: int = 1000,
        augment: bool = True,
        seed: int = 0,
    ):
        if not images:
            raise ValueError("PatchDataset needs at least one image.")
        for k, im in enumerate(images):
            check_images(im[None], f"images[{k}]", channels=images[0].shape[0])
            if min(im.shape[-2:]) < patch_size:
                raise ValueError(
                    f"images[{k}] is {im.shape[-2]}x{im.shape[-1]}, smaller than "
                    f"patch_size={patch_size}."
                )
        self.images, self.patch_size, self.n_patches = images, patch_size, n_patches
        self.augment, self.seed = augment, seed
        counts = [
            (im.shape[-2] - patch_size + 1) * (im.shape[-1] - patch_size + 1) for im in images
        ]
        self.weights = torch.tensor(counts, dtype=torch.float64)

    def __len__(self) -> int:
        return self.n_patches

    def __getitem__(self, i: int) -> Tensor:
        g = _item_generator(self.seed, i, self.n_patches)
        im = self.images[int(torch.multinomial(self.weights, 1, generator=g))]
        p = self.patch_size
        top = int(torch.randint(im.shape[-2] - p + 1, (1,), generator=g))
        left = int(torch.randint(im.shape[-1] - p + 1, (1,), generator=g))
        patch = im[:, top : top + p, left : left + p]
        if self.augment:
            k, flip = torch.randint(4, (1,), generator=g).item(), torch.rand(1, generator=g) < 0.5
            patch = torch.rot90(patch, k, dims=(-2, -1))
            if flip:
                patch = patch.flip(-1)
        return patch.contiguous()


def training_patches(
    patch_size: int = 64, n_patches: int = 1000, channels: int = 3, seed: int = 0
) -> PatchDataset:
    """A :class:`PatchDataset` over the ``"train"`` images (never the dev images)."""
    images = [load_image(n, channels=channels) for n in list_images("train")]
    return PatchDataset(images, patch_size=patch_size, n_patches=n_patches, seed=seed)


# ------------------------------------------------------------- the challenge's photographs

CHALLENGE_PARTS = ("fit", "validation", "all")
VALIDATION_FRACTION = 0.25
"""The share of each photograph, along its longer side, held out for validation."""


def challenge_training_names() -> list[str]:
    """The photographs for training challenge methods: every bundled photograph outside the dev
    split (the ``"train"`` and ``"gray"`` splits; ``data/README.md`` lists them)."""
    return [n for n in list_images(photos_only=True) if IMAGES[n].split != "dev"]


def challenge_images(part: str = "fit", scale: int = 1) -> dict[str, Tensor]:
    """The challenge's training photographs by name, RGB ``(3, H, W)`` at the test images' scale.

    Each photograph is downscaled so its shorter side is ``256 * scale`` pixels (never upsampled;
    see :func:`course_utils.images.to_official_scale`), gray ones replicated to three channels.
    ``part="validation"`` is the last quarter of each along its longer side (the bottom or the
    right), ``"fit"`` the rest, ``"all"`` the whole: fit and validate on ``"fit"`` and
    ``"validation"``, so the validation pixels are never trained on.

    :param scale: 1 for the test images' scale; 2 adds a finer one (photographs whose shorter
        side is below 512 pixels are left out at that scale).
    """
    if part not in CHALLENGE_PARTS:
        raise ValueError(f"part must be one of {CHALLENGE_PARTS}, got {part!r}.")
    if scale not in (1, 2):
        raise ValueError(f"scale must be 1 or 2, got {scale!r}.")
    images = {}
    for name in challenge_training_names():
        x = load_image(name, channels=3)
        if scale > 1 and min(x.shape[-2:]) < 256 * scale:
            continue
        x = to_official_scale(x, 256 * scale)
        axis = -2 if x.shape[-2] > x.shape[-1] else -1
        cut = x.shape[axis] - math.ceil(VALIDATION_FRACTION * x.shape[axis])
        if part == "fit":
            x = x[:, :cut] if axis == -2 else x[..., :cut]
        elif part == "validation":
            x = x[:, cut:] if axis == -2 else x[..., cut:]
        images[name] = x.contiguous()
    return images


def challenge_patches(
    part: str = "fit",
    patch_size: int = 64,
    n_patches: int = 1000,
    seed: int = 0,
    scales: tuple[int, ...] = (1,),
) -> PatchDataset:
    """A :class:`PatchDataset` ``(3, patch_size, patch_size)`` over :func:`challenge_images`
    of ``part`` at each of ``scales``; augmented by flips and rotations except for validation."""
    images = [x for s in scales for x in challenge_images(part, s).values()]
    return PatchDataset(
        images,
        patch_size=patch_size,
        n_patches=n_patches,
        augment=part != "validation",
        seed=seed,
    )


# ------------------------------------------------------------------------------ phantoms


def random_ellipse_phantom(
    size: int = 128, n_ellipses: int = 10, generator: torch.Generator | None = None
) -> Tensor:
    """A random piecewise-constant phantom of ``n_ellipses`` overlapping ellipses.

    Intensities add up where ellipses overlap; the result is divided by its maximum when that
    exceeds 1, so values lie in [0, 1]. Returns shape ``(1, size, size)``.
    """
    if size < 8 or n_ellipses < 1:
        raise ValueError(f"need size >= 8 and n_ellipses >= 1, got {size} and {n_ellipses}.")
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    coords = torch.linspace(-1, 1, size)
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    phantom = torch.zeros(size, size)
    for _ in range(n_ellipses):
        cx, cy = (torch.rand(2, generator=g) * 1.2 - 0.6).tolist()
        a, b = (torch.rand(2, generator=g) * 0.45 + 0.05).tolist()
        theta = float(torch.rand(1, generator=g)) * math.pi
        value = float(torch.rand(1, generator=g)) * 0.8 + 0.2
        xr = (xx - cx) * math.cos(theta) + (yy - cy) * math.sin(theta)
        yr = -(xx - cx) * math.sin(theta) + (yy - cy) * math.cos(theta)
        phantom += value * ((xr / a) ** 2 + (yr / b) ** 2 <= 1).float()
    if phantom.max() > 1:
        phantom /= phantom.max()
    return phantom[None]


class EllipsePhantomDataset(torch.utils.data.Dataset):
    """``length`` random ellipse phantoms ``(1, size, size)``; item ``i`` is always the same."""

    def __init__(self, length: int, size: int = 128, n_ellipses: int = 10, seed: int = 0):
        self.length, self.size, self.n_ellipses, self.seed = length, size, n_ellipses, seed

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> Tensor:
        g = _item_generator(self.seed, i, self.length)
        return random_ellipse_phantom(self.size, self.n_ellipses, g)


# ------------------------------------------------------------------------- test-set files

TESTSET_FORMAT = "course-deblurring-testset-v1"
DEV_SET_FILE = DATA_DIR / "challenge" / "dev_set.safetensors"
DEV_SEED = 2026
DEV_STREAMS = "consecutive"
"""The dev set's noise seeds are ``DEV_SEED + i`` (it predates hashed streams; it is public)."""


@dataclass
class TestSet:
    """Measurements ``y`` ``(N, 3, 256, 256)``, ground truth ``x`` (same shape, in [0, 1], or
    ``None`` when loaded without it), image ``names`` and the noise ``seed``."""

    __test__ = False  # not a pytest test class

    y: Tensor
    x: Tensor | None
    names: list[str]
    seed: int
    metadata: dict[str, str]

    @property
    def streams(self) -> str:
        """How the per-image noise seeds derive from ``seed`` (files older than the field:
        ``"consecutive"``)."""
        return self.metadata.get("noise_streams", "consecutive")


def save_testset(
    path: str | Path,
    x: Tensor,
    y: Tensor,
    names: list[str],
    seed: int,
    streams: str = "hashed",
) -> Path:
    """Write a test set as a safetensors file (no pickled code: safe to load from anyone).

    ``x`` is stored as 8-bit (it must already lie on the 8-bit grid, see :func:`quantize_8bit`)
    and ``y`` as float32. The metadata records the names, seed, how the per-image noise seeds
    derive from it (``streams``, see :func:`course_utils.physics.noise_seed`), the noise level
    and the sha256 of the kernel, so a file made with another operator is refused on loading.
    """
    from .kernel import KERNEL_FILE
    from .physics import IMAGE_SHAPE, NOISE_SIGMA

    check_images(x, "x", channels=3, size=IMAGE_SHAPE[1:], value_range=(0.0, 1.0))
    check_images(y, "y", channels=3, size=IMAGE_SHAPE[1:])
    if x.shape != y.shape or len(names) != x.shape[0] or len(set(names)) != len(names):
        raise ValueError(
            f"x {tuple(x.shape)}, y {tuple(y.shape)} and {len(names)} names must describe the "
            "same images, and names must be unique."
        )
    x8 = torch.round(x * 255)
    if (x8 / 255 - x).abs().max() > 1e-6:
        raise ValueError("x must lie on the 8-bit grid: pass quantize_8bit(x).")
    metadata = {
        "format": TESTSET_FORMAT,
        "names": json.dumps(list(names)),
        "seed": str(int(seed)),
        "noise_streams": streams,
        "noise_sigma": repr(NOISE_SIGMA),
        "kernel_sha256": sha256_of(KERNEL_FILE),
        "x_encoding": "uint8, value/255",
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(
        {"x": x8.to(torch.uint8).contiguous(), "y": y.float().contiguous()},
        str(path),
        metadata=metadata,
    )
    return path


def load_testset(path: str | Path, ground_truth: bool = True) -> TestSet:
    """Read a file written by :func:`save_testset`; ``ground_truth=False`` leaves ``x`` out."""
    from safetensors import safe_open

    from .kernel import KERNEL_FILE

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no test-set file at {path}. Instructors create one with "
            "`python -m course_utils.challenge make-testset IMAGE_DIR OUT_FILE`."
        )
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
    except Exception as err:
        raise ValueError(f"{path} is not a safetensors test-set file: {err}") from err
    if metadata.get("format") != TESTSET_FORMAT:
        raise ValueError(f"{path} is not a test set of format {TESTSET_FORMAT}.")
    if metadata["kernel_sha256"] != sha256_of(KERNEL_FILE):
        raise ValueError(
            f"{path} was made with a different blur kernel than {KERNEL_FILE.name}: rebuild it "
            "with `python -m course_utils.challenge make-testset`."
        )
    tensors = load_file(str(path))
    x = tensors["x"].float() / 255 if ground_truth else None
    return TestSet(
        y=tensors["y"],
        x=x,
        names=json.loads(metadata["names"]),
        seed=int(metadata["seed"]),
        metadata=metadata,
    )


def make_testset(
    images: list[Tensor], names: list[str], seed: int, streams: str = "hashed"
) -> tuple[Tensor, Tensor]:
    """Official-size 8-bit ground truth and measurements from images ``(C, H, W)``.

    Returns ``(x, y)``, each ``(N, 3, 256, 256)``; image ``i`` gets the noise seed
    ``course_utils.physics.noise_seed(seed, i, streams)``.
    """
    from .physics import measure

    if len(images) != len(names) or not images:
        raise ValueError("give one name per image, and at least one image.")
    x = torch.stack([quantize_8bit(to_official_size(_convert_channels(im, 3))) for im in images])
    return x, measure(x, seed=seed, streams=streams)


def build_dev_set(path: str | Path = DEV_SET_FILE) -> Path:
    """(Re)build the public dev set from the ``"dev"`` images with seed :data:`DEV_SEED`."""
    names = list_images("dev")
    x, y = make_testset([load_image(n) for n in names], names, seed=DEV_SEED, streams=DEV_STREAMS)
    return save_testset(path, x, y, names, DEV_SEED, streams=DEV_STREAMS)


def load_dev_set(ground_truth: bool = True) -> TestSet:
    """The public dev set (5 images), checked against its recorded sha256."""
    verify_file(DEV_SET_FILE)
    return load_testset(DEV_SET_FILE, ground_truth=ground_truth)

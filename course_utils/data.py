"""Images, training patches, phantoms and the challenge's test-set files.

Every image here ships with an installed package (scikit-image, scikit-learn, matplotlib), so
nothing is downloaded. ``data/README.md`` lists each with its source and licence. The images
are split once and for all:

* ``"train"``: for fitting learned methods (and for any experiment in the notebooks);
* ``"dev"``: the public dev set of the challenge; never train on these;
* ``"gray"``: single-channel test images for toy problems.

Images are tensors of shape ``(C, H, W)`` (single images) or ``(B, C, H, W)`` (batches),
float32 in [0, 1].
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps
from safetensors.torch import load_file, save_file
from torch import Tensor

from .paths import DATA_DIR, sha256_of, verify_file
from .validate import check_images

# ----------------------------------------------------------------------------- catalogue


def _skimage(name: str) -> Callable[[], np.ndarray]:
    def load():
        import skimage.data

        return getattr(skimage.data, name)()

    return load


def _sklearn(name: str) -> Callable[[], np.ndarray]:
    def load():
        from sklearn.datasets import load_sample_image

        return load_sample_image(name)

    return load


def _grace_hopper() -> np.ndarray:
    from matplotlib import cbook

    with cbook.get_sample_data("grace_hopper.jpg") as f:
        return np.asarray(Image.open(f).convert("RGB"))


def _shepp_logan() -> np.ndarray:
    import skimage.data

    return (skimage.data.shepp_logan_phantom() * 255).round().astype(np.uint8)


@dataclass(frozen=True)
class ImageInfo:
    """One bundled image: where it comes from, its licence and its split."""

    name: str
    split: str
    source: str
    licence: str
    load: Callable[[], np.ndarray]


_PD = "public domain"
_CATALOGUE = [  # name, split, source, licence, loader
    ("astronaut", "train", "skimage.data.astronaut (NASA)", _PD, _skimage("astronaut")),
    ("china", "train", "sklearn china.jpg (danielbuechele)", "CC BY 2.0", _sklearn("china.jpg")),
    ("hubble_deep_field", "train", "skimage.data (NASA)", _PD, _skimage("hubble_deep_field")),
    (
        "immunohistochemistry",
        "train",
        "skimage.data.immunohistochemistry (CMMI)",
        "no known copyright restrictions",
        _skimage("immunohistochemistry"),
    ),
    ("retina", "train", "skimage.data.retina (M. Häggström)", "CC0", _skimage("retina")),
    ("coffee", "dev", "skimage.data.coffee (R. Michetti)", "CC0", _skimage("coffee")),
    ("rocket", "dev", "skimage.data.rocket (SpaceX)", _PD, _skimage("rocket")),
    ("chelsea", "dev", "skimage.data.chelsea (S. van der Walt)", "CC0", _skimage("chelsea")),
    ("flower", "dev", "sklearn flower.jpg (vultilion)", "CC BY 2.0", _sklearn("flower.jpg")),
    ("grace_hopper", "dev", "matplotlib grace_hopper.jpg (U.S. Navy)", _PD, _grace_hopper),
    ("camera", "gray", "skimage.data.camera (L. Varshney)", "CC0", _skimage("camera")),
    ("brick", "gray", "skimage.data.brick (CC0Textures)", "CC0", _skimage("brick")),
    ("grass", "gray", "skimage.data.grass (linolafett)", "CC0", _skimage("grass")),
    ("gravel", "gray", "skimage.data.gravel (CC0Textures)", "CC0", _skimage("gravel")),
    ("shepp_logan", "gray", "skimage.data.shepp_logan_phantom", _PD, _shepp_logan),
]
IMAGES: dict[str, ImageInfo] = {entry[0]: ImageInfo(*entry) for entry in _CATALOGUE}
SPLITS = ("train", "dev", "gray")


def list_images(split: str | None = None) -> list[str]:
    """Names of the bundled images, optionally only those of one split."""
    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS} or None, got {split!r}.")
    return [n for n, info in IMAGES.items() if split is None or info.split == split]


def array_to_tensor(img: np.ndarray) -> Tensor:
    """An image array ``(H, W)`` or ``(H, W, C)`` (uint8, uint16 or float in [0, 1]) as a float32
    tensor ``(C, H, W)`` in [0, 1]. An alpha channel is dropped."""
    if img.ndim == 2:
        img = img[..., None]
    if img.ndim != 3 or img.shape[-1] not in (1, 3, 4):
        raise ValueError(f"expected an image of shape (H, W) or (H, W, 1|3|4), got {img.shape}.")
    img = img[..., :3]
    if img.dtype == np.uint8:
        arr = img.astype(np.float32) / 255.0
    elif img.dtype == np.uint16:
        arr = img.astype(np.float32) / 65535.0
    elif np.issubdtype(img.dtype, np.floating):
        arr = img.astype(np.float32)
        if arr.min() < 0 or arr.max() > 1:
            raise ValueError(
                f"a float image must lie in [0, 1], got [{arr.min():.3g}, {arr.max():.3g}]."
            )
    else:
        raise TypeError(f"unsupported image dtype {img.dtype}: use uint8, uint16 or float.")
    return torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1).contiguous()


def load_image(name: str, channels: int | None = None) -> Tensor:
    """A bundled image as a float32 tensor ``(C, H, W)`` in [0, 1], at its native size.

    :param channels: 3 to replicate a gray image to RGB, 1 to convert RGB to luminance
        (ITU-R 601 weights), ``None`` to keep it as stored.
    """
    if name not in IMAGES:
        raise KeyError(f"unknown image {name!r}; available: {', '.join(IMAGES)}.")
    x = array_to_tensor(IMAGES[name].load())
    return _convert_channels(x, channels)


def _convert_channels(x: Tensor, channels: int | None) -> Tensor:
    if channels is None or x.shape[0] == channels:
        return x
    if channels == 3 and x.shape[0] == 1:
        return x.expand(3, -1, -1).clone()
    if channels == 1 and x.shape[0] == 3:
        w = torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)
        return (w * x).sum(0, keepdim=True)
    raise ValueError(f"cannot convert {x.shape[0]} channels to {channels}.")


def load_image_file(path: str | Path) -> Tensor:
    """An image file (PNG, JPEG, TIFF, ...) as an RGB float32 tensor ``(3, H, W)`` in [0, 1].

    Gray images are replicated to three channels; an alpha channel is dropped; the EXIF
    orientation of photos is applied.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no image file at {path}.")
    try:
        with Image.open(path) as opened:
            im = ImageOps.exif_transpose(opened)  # phone photos: apply the stored rotation
            im.load()
            if im.mode in ("I;16", "I;16B", "I;16L"):
                arr = np.asarray(im, dtype=np.uint16)
            elif im.mode in ("I", "F"):
                raise ValueError(f"{path}: 32-bit images (mode {im.mode}) are not supported.")
            else:
                arr = np.asarray(im.convert("RGBA" if "A" in im.mode else "RGB"))
    except OSError as err:
        raise ValueError(f"{path} is not a readable image: {err}") from err
    return _convert_channels(array_to_tensor(arr), 3)


def to_official_size(x: Tensor, size: int = 256) -> Tensor:
    """Resize ``x`` ``(C, H, W)`` so its shorter side is ``size``, then crop the centre square.

    Resizing uses antialiased bilinear interpolation (a convex combination of pixels, so
    values stay in [0, 1]); an image already ``size`` pixels on its shorter side is only
    cropped. Images smaller than ``size`` are upsampled.
    """
    if x.ndim != 3:
        raise ValueError(f"expected one image (C, H, W), got shape {tuple(x.shape)}.")
    h, w = x.shape[-2:]
    if min(h, w) != size:
        scale = size / min(h, w)
        new = (max(size, round(h * scale)), max(size, round(w * scale)))
        x = F.interpolate(x[None], size=new, mode="bilinear", antialias=True, align_corners=False)[
            0
        ]
        h, w = new
    top, left = (h - size) // 2, (w - size) // 2
    return x[:, top : top + size, left : left + size].contiguous()


def centre_crop(x: Tensor, size: int = 256) -> Tensor:
    """The centre ``size × size`` square of ``x`` ``(..., H, W)``, without resizing."""
    h, w = x.shape[-2:]
    if h < size or w < size:
        raise ValueError(
            f"cannot crop {size}x{size} from an image of size {h}x{w}; use to_official_size "
            "to resize first."
        )
    top, left = (h - size) // 2, (w - size) // 2
    return x[..., top : top + size, left : left + size]


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


def quantize_8bit(x: Tensor) -> Tensor:
    """Round an image in [0, 1] to the nearest of the 256 levels of an 8-bit image."""
    return torch.round(x * 255) / 255


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


# ------------------------------------------------------------------------------- digits

DIGITS_TEST_FRACTION = 0.25
DIGITS_SPLIT_SEED = 0


def load_digits(split: str = "train") -> tuple[Tensor, Tensor]:
    """The 8×8 handwritten digits of scikit-learn (1797 images, classes 0–9).

    The split is fixed (stratified by class, 25 % test, seed 0), so every notebook sees the
    same 1347 training and 450 test images.

    :param split: ``"train"``, ``"test"`` or ``"all"``.
    :returns: images ``(N, 1, 8, 8)`` float32 in [0, 1] and labels ``(N,)`` int64.
    """
    from sklearn.datasets import load_digits as sklearn_digits
    from sklearn.model_selection import train_test_split

    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}.")
    bunch = sklearn_digits()
    images = torch.from_numpy(bunch.images / 16.0).float()[:, None]  # pixel values are 0..16
    labels = torch.from_numpy(bunch.target).long()
    if split == "all":
        return images, labels
    train_idx, test_idx = train_test_split(
        np.arange(len(labels)),
        test_size=DIGITS_TEST_FRACTION,
        stratify=bunch.target,
        random_state=DIGITS_SPLIT_SEED,
    )
    idx = torch.from_numpy(np.sort(train_idx if split == "train" else test_idx))
    return images[idx], labels[idx]


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

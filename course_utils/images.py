"""The bundled images: catalogue, splits, loading and resizing to the official size.

Every image here ships with an installed package (scikit-image, scikit-learn, matplotlib), so
nothing is downloaded. ``data/README.md`` lists each with its source and licence, and the
photographs the packages ship that are left out, with the reason. The images are split once and
for all:

* ``"train"``: for fitting learned methods (and for any experiment in the notebooks);
* ``"dev"``: the public dev set of the challenge; never train on these;
* ``"gray"``: single-channel test images for toy problems (the held-out test images of the Day 1
  denoisers).

Images are tensors of shape ``(C, H, W)`` (single images) or ``(B, C, H, W)`` (batches),
float32 in [0, 1].
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps
from torch import Tensor

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


def _motorcycle(view: int) -> Callable[[], np.ndarray]:
    def load():
        import skimage.data

        return skimage.data.stereo_motorcycle()[view]

    return load


def _shepp_logan() -> np.ndarray:
    import skimage.data

    return (skimage.data.shepp_logan_phantom() * 255).round().astype(np.uint8)


@dataclass(frozen=True)
class ImageInfo:
    """One bundled image: where it comes from, its licence, its split, and whether it is a
    photograph (``False``: a synthetic image)."""

    name: str
    split: str
    source: str
    licence: str
    load: Callable[[], np.ndarray]
    photo: bool = True


_PD = "public domain"
_SKIMAGE = "none stated; distributed with scikit-image (BSD-3-Clause)"
_MIDDLEBURY = (
    "skimage.data.stereo_motorcycle, {} view (Middlebury 2014 stereo, D. Scharstein et al.)"
)
_CATALOGUE = [  # name, split, source, licence, loader[, photo]
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
    ("motorcycle_left", "train", _MIDDLEBURY.format("left"), _SKIMAGE, _motorcycle(0)),
    ("motorcycle_right", "train", _MIDDLEBURY.format("right"), _SKIMAGE, _motorcycle(1)),
    (
        "coins",
        "train",
        "skimage.data.coins (Brooklyn Museum)",
        "no known copyright restrictions",
        _skimage("coins"),
    ),
    ("moon", "train", "skimage.data.moon", _SKIMAGE, _skimage("moon")),
    ("page", "train", "skimage.data.page (a scanned page)", _SKIMAGE, _skimage("page")),
    ("text", "train", "skimage.data.text (Wikipedia, Corner.png)", _PD, _skimage("text")),
    ("coffee", "dev", "skimage.data.coffee (R. Michetti)", "CC0", _skimage("coffee")),
    ("rocket", "dev", "skimage.data.rocket (SpaceX)", _PD, _skimage("rocket")),
    ("chelsea", "dev", "skimage.data.chelsea (S. van der Walt)", "CC0", _skimage("chelsea")),
    ("flower", "dev", "sklearn flower.jpg (vultilion)", "CC BY 2.0", _sklearn("flower.jpg")),
    ("grace_hopper", "dev", "matplotlib grace_hopper.jpg (U.S. Navy)", _PD, _grace_hopper),
    ("camera", "gray", "skimage.data.camera (L. Varshney)", "CC0", _skimage("camera")),
    ("brick", "gray", "skimage.data.brick (CC0Textures)", "CC0", _skimage("brick")),
    ("grass", "gray", "skimage.data.grass (linolafett)", "CC0", _skimage("grass")),
    ("gravel", "gray", "skimage.data.gravel (CC0Textures)", "CC0", _skimage("gravel")),
    ("shepp_logan", "gray", "skimage.data.shepp_logan_phantom", _PD, _shepp_logan, False),
]
IMAGES: dict[str, ImageInfo] = {entry[0]: ImageInfo(*entry) for entry in _CATALOGUE}
SPLITS = ("train", "dev", "gray")


def list_images(split: str | None = None, photos_only: bool = False) -> list[str]:
    """Names of the bundled images, optionally only those of one split, or only photographs."""
    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS} or None, got {split!r}.")
    return [
        n
        for n, info in IMAGES.items()
        if (split is None or info.split == split) and (info.photo or not photos_only)
    ]


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


def to_official_scale(x: Tensor, size: int = 256) -> Tensor:
    """Downscale ``x`` ``(C, H, W)`` so its shorter side is ``size``, as :func:`to_official_size`
    does, but keep the whole image (no crop); an image whose shorter side is already at most
    ``size`` is returned unchanged (never upsampled: that would add blur the test images lack).
    """
    if x.ndim != 3:
        raise ValueError(f"expected one image (C, H, W), got shape {tuple(x.shape)}.")
    h, w = x.shape[-2:]
    if min(h, w) <= size:
        return x
    new = (max(size, round(h * size / min(h, w))), max(size, round(w * size / min(h, w))))
    y = F.interpolate(x[None], size=new, mode="bilinear", antialias=True, align_corners=False)[0]
    # Each output pixel is a convex combination of input pixels: only rounding (about 1e-7)
    # leaves [0, 1], and metrics that check the range would reject it.
    return y.clamp(0, 1)


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


def quantize_8bit(x: Tensor) -> Tensor:
    """Round an image in [0, 1] to the nearest of the 256 levels of an 8-bit image."""
    return torch.round(x * 255) / 255

"""Test sets: turn a folder of clean images into a test-set file, with a secret noise seed."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable
from pathlib import Path

import torch

from ..data import DEV_SET_FILE, make_testset, save_testset
from ..images import load_image_file, to_official_size
from ..paths import sha256_of
from ..physics import IMAGE_SHAPE
from .rules import UsageError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")
"""Files of an image folder that ``make-testset`` reads; other files are skipped."""
OFFICIAL_SIZE = IMAGE_SHAPE[-1]


def collect_images(image_dir: str | Path, log: Callable[[str], None] = print) -> dict[str, Path]:
    """The image files of ``image_dir`` by name (file stem), sorted by name.

    Non-image files and sub-folders are skipped with a note through ``log``.

    :raises UsageError: the folder is missing, holds no image, or two images share a stem.
    """
    image_dir = Path(image_dir)
    if not image_dir.is_dir():
        raise UsageError(f"image folder {image_dir} does not exist or is not a folder.")
    found: dict[str, Path] = {}
    for path in sorted(image_dir.iterdir()):
        if path.is_dir():
            log(f"note: skipping sub-folder {path.name}/ (only the folder's top level is read)")
            continue
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            log(f"note: skipping {path.name}: not an image file ({', '.join(IMAGE_SUFFIXES)})")
            continue
        if path.stem in found:
            raise UsageError(
                f"{found[path.stem].name} and {path.name} would both be named {path.stem!r}: "
                "image names are file stems and must be unique. Rename or remove one of them."
            )
        found[path.stem] = path
    if not found:
        raise UsageError(
            f"no images in {image_dir}: put PNG or JPEG files ({', '.join(IMAGE_SUFFIXES)}) "
            "in that folder."
        )
    return dict(sorted(found.items()))


def content_digest(path: str | Path) -> str:
    """sha256 of a safetensors file's tensors (name, dtype, shape, bytes) and sorted metadata.

    Unlike the file's own sha256, it does not depend on the order safetensors happens to write
    the metadata in, so rebuilding a test set from the same images and seed gives the same
    digest.
    """
    from safetensors import safe_open

    h = hashlib.sha256()
    with safe_open(str(path), framework="pt") as f:
        h.update(json.dumps(f.metadata() or {}, sort_keys=True).encode())
        for key in sorted(f.keys()):
            t = f.get_tensor(key).contiguous()
            h.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
            h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def new_seed() -> int:
    """A secret noise seed: 64 bits from the operating system's cryptographic source."""
    return secrets.randbits(64)


def build_testset_file(
    image_dir: str | Path,
    out_file: str | Path,
    seed: int | None = None,
    log: Callable[[str], None] = print,
) -> dict:
    """Make a test-set file from a folder of clean images (see the package docstring).

    ``seed`` defaults to a fresh secret one (:func:`new_seed`); image ``i`` gets the noise
    seed ``course_utils.physics.noise_seed(seed, i)``, a hash of both.

    Returns a summary: ``n_images``, ``names``, ``seed``, ``path``, ``sha256`` (of the file)
    and ``content_sha256`` (see :func:`content_digest`).

    :raises UsageError: bad folder, unreadable image, duplicate names, negative seed.
    """
    if seed is None:
        seed = new_seed()
    if seed < 0 or seed >= 2**64:
        raise UsageError(f"--seed must be an integer in [0, 2^64), got {seed}.")
    out_file = Path(out_file)
    if out_file.resolve() == DEV_SET_FILE.resolve():
        raise UsageError(
            f"{out_file} is the shipped dev set; write the test set elsewhere (the dev set is "
            "rebuilt with course_utils.data.build_dev_set)."
        )
    if out_file.is_dir():
        raise UsageError(f"OUT_FILE {out_file} is a folder; give a file name.")
    files = collect_images(image_dir, log=log)
    images = []
    for path in files.values():
        try:
            image = load_image_file(path)
        except Exception as err:
            raise UsageError(f"cannot read image {path}: {err}") from err
        h, w = image.shape[-2:]
        if min(h, w) < OFFICIAL_SIZE:
            log(
                f"warning: {path.name} is only {w}x{h} pixels; it is upsampled so its shorter "
                f"side is {OFFICIAL_SIZE} (the ground truth will look soft)"
            )
        # Bring each image to the official size at once, so big photos do not pile up in
        # memory; make_testset applies to_official_size again, which leaves it unchanged.
        images.append(to_official_size(image))
    names = list(files)
    x, y = make_testset(images, names, seed=seed)
    if out_file.exists():
        log(f"note: overwriting {out_file}")
    save_testset(out_file, x, y, names, seed)
    return {
        "n_images": len(names),
        "names": names,
        "seed": seed,
        "path": str(out_file),
        "sha256": sha256_of(out_file),
        "content_sha256": content_digest(out_file),
    }

"""Bundled images, resizing, patches, phantoms and test-set files."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

import course_utils as cu
from course_utils import data, images


def test_every_bundled_image_loads_offline_and_is_documented():
    readme = (data.DATA_DIR / "README.md").read_text()
    for name in cu.list_images():
        x = cu.load_image(name)
        assert x.dtype == torch.float32 and x.ndim == 3 and x.shape[0] in (1, 3)
        assert 0 <= x.min() and x.max() <= 1
        assert f"`{name}`" in readme, f"{name} is not listed with its licence in data/README.md"


def test_splits_are_disjoint_and_dev_set_uses_dev_images():
    train, dev = set(cu.list_images("train")), set(cu.list_images("dev"))
    assert train and dev and not train & dev
    assert set(cu.load_dev_set().names) == dev
    with pytest.raises(ValueError, match="split"):
        cu.list_images("test")
    with pytest.raises(KeyError, match="unknown image"):
        cu.load_image("lena")


def test_channel_conversion():
    assert cu.load_image("camera", channels=3).shape[0] == 3
    gray = cu.load_image("coffee", channels=1)
    assert gray.shape[0] == 1 and 0 <= gray.min() and gray.max() <= 1


@pytest.mark.parametrize(("h", "w"), [(300, 451), (256, 256), (600, 256), (100, 120)])
def test_to_official_size(h, w):
    x = torch.rand(3, h, w)
    out = cu.to_official_size(x)
    assert out.shape == (3, 256, 256)
    assert 0 <= out.min() and out.max() <= 1
    if (h, w) == (256, 256):
        assert torch.equal(out, x)


def test_load_image_file_handles_gray_alpha_and_16_bit(tmp_path):
    rgba = np.zeros((10, 12, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 255, 128
    Image.fromarray(rgba).save(tmp_path / "a.png")
    x = cu.load_image_file(tmp_path / "a.png")
    assert x.shape == (3, 10, 12) and x[0].eq(1).all() and x[1:].eq(0).all()
    Image.fromarray(np.full((5, 6), 65535, np.uint16)).save(tmp_path / "b.png")
    assert cu.load_image_file(tmp_path / "b.png").eq(1).all()
    Image.fromarray(np.full((5, 6), 51, np.uint8)).save(tmp_path / "c.jpg")
    assert cu.load_image_file(tmp_path / "c.jpg").shape == (3, 5, 6)
    (tmp_path / "d.png").write_text("not an image")
    with pytest.raises(ValueError, match="not a readable image"):
        cu.load_image_file(tmp_path / "d.png")
    with pytest.raises(FileNotFoundError):
        cu.load_image_file(tmp_path / "missing.png")


def test_patch_dataset_is_reproducible_and_augments():
    images = [torch.rand(3, 40, 50), torch.rand(3, 64, 33)]
    ds = cu.PatchDataset(images, patch_size=32, n_patches=200, seed=1)
    assert len(ds) == 200 and ds[5].shape == (3, 32, 32)
    assert torch.equal(ds[5], cu.PatchDataset(images, 32, 200, seed=1)[5])
    assert not torch.equal(ds[5], cu.PatchDataset(images, 32, 200, seed=2)[5])
    # Augmentation: a constant-gradient image shows flips/rotations as different orientations.
    ramp = torch.linspace(0, 1, 32).expand(32, 32)[None].repeat(3, 1, 1)
    orientations = {
        tuple(p[0, 0, :2].tolist() + p[0, :2, 0].tolist())
        for p in cu.PatchDataset([ramp], 32, 64, seed=0)
    }
    assert len(orientations) >= 4
    with pytest.raises(ValueError, match="smaller than"):
        cu.PatchDataset([torch.rand(3, 10, 10)], patch_size=32)
    with pytest.raises(IndexError):
        ds[200]


def test_training_patches_come_from_training_images_only():
    ds = cu.training_patches(patch_size=48, n_patches=4)
    assert ds[0].shape == (3, 48, 48)
    assert len(ds.images) == len(cu.list_images("train"))


def test_ellipse_phantoms():
    p = cu.random_ellipse_phantom(64, 8, torch.Generator().manual_seed(0))
    assert p.shape == (1, 64, 64) and 0 <= p.min() and p.max() <= 1 and p.max() > 0
    ds = cu.EllipsePhantomDataset(3, size=32, seed=4)
    assert torch.equal(ds[1], cu.EllipsePhantomDataset(3, size=32, seed=4)[1])
    assert not torch.equal(ds[0], ds[1])
    with pytest.raises(IndexError, match="out of range"):
        ds[3]
    # piecewise constant: few distinct values
    assert len(torch.unique(p)) < 60
    with pytest.raises(ValueError):
        cu.random_ellipse_phantom(4)


def test_testset_round_trip(tmp_path):
    imgs = [torch.rand(3, 300, 280), torch.rand(1, 256, 256)]
    x, y = data.make_testset(imgs, ["a", "b"], seed=5)
    path = data.save_testset(tmp_path / "t.safetensors", x, y, ["a", "b"], seed=5)
    ts = cu.load_testset(path)
    assert ts.names == ["a", "b"] and ts.seed == 5
    torch.testing.assert_close(ts.x, x, rtol=0, atol=1e-7)
    assert torch.equal(ts.y, y)
    assert cu.load_testset(path, ground_truth=False).x is None
    with pytest.raises(ValueError, match="8-bit"):
        data.save_testset(tmp_path / "u.safetensors", x + 1e-3 * (x < 0.5), y, ["a", "b"], 5)
    with pytest.raises(ValueError, match="unique"):
        data.save_testset(tmp_path / "u.safetensors", x, y, ["a", "a"], 5)


def test_testset_made_with_another_kernel_is_refused(tmp_path):
    from safetensors.torch import load_file, save_file

    x, y = data.make_testset([torch.rand(3, 256, 256)], ["a"], seed=0)
    path = data.save_testset(tmp_path / "t.safetensors", x, y, ["a"], 0)
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = dict(f.metadata())
    meta["kernel_sha256"] = "0" * 64
    save_file(load_file(str(path)), str(path), metadata=meta)
    with pytest.raises(ValueError, match="different blur kernel"):
        cu.load_testset(path)
    with pytest.raises(FileNotFoundError, match="make-testset"):
        cu.load_testset(tmp_path / "missing.safetensors")


def test_dev_set_is_shipped_intact_and_reproducible(tmp_path):
    dev = cu.load_dev_set()
    assert dev.y.shape == dev.x.shape == (5, 3, 256, 256)
    assert json.loads(dev.metadata["names"]) == dev.names
    rebuilt = cu.load_testset(data.build_dev_set(tmp_path / "dev.safetensors"))
    for i, name in enumerate(dev.names):
        # x is the 8-bit rounding of a float32 resize. Another CPU's resize differs by float
        # rounding, so a pixel may land on the neighbouring level only if its resized value
        # lies within that rounding (measured here against float64, twice for two CPUs) of a
        # half level.
        image = images.load_image(name, channels=3)
        levels = images.to_official_size(image) * 255
        slack = 2 * (levels.double() - images.to_official_size(image.double()) * 255).abs().max()
        near_half = (levels.double() - levels.double().floor() - 0.5).abs() < slack
        step = (rebuilt.x[i] - dev.x[i]) * 255
        assert not (step != 0)[~near_half].any(), f"{name}: a pixel far from a half level moved"
        assert (step.abs() < 1 + 1e-4).all(), f"{name}: a pixel moved by more than one level"
        # ... and that exception is rare, so the check is not vacuous (grace_hopper, halved
        # exactly, has 1.5% of its pixels on exact half levels; the others under 1%).
        assert near_half.float().mean() < 0.05, f"{name}: too many pixels near a half level"
    # y is the official blur of the shipped x plus the recorded noise (float noise allowed).
    assert int(dev.metadata["seed"]) == data.DEV_SEED
    assert dev.streams == data.DEV_STREAMS == "consecutive"
    remeasured = cu.measure(dev.x, seed=data.DEV_SEED, streams=dev.streams)
    torch.testing.assert_close(remeasured, dev.y, rtol=0, atol=1e-5)


def test_load_image_file_applies_exif_orientation(tmp_path):
    arr = np.zeros((10, 20, 3), np.uint8)
    arr[:, :5] = 255  # bright left band
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    Image.fromarray(arr).save(tmp_path / "phone.jpg", exif=exif, quality=100)
    x = cu.load_image_file(tmp_path / "phone.jpg")
    assert x.shape == (3, 20, 10)
    assert x[:, :5].mean() > 0.9 and x[:, -5:].mean() < 0.1  # the band is now at the top


def test_digits_split_is_fixed_stratified_and_in_range():
    x_train, y_train = cu.load_digits("train")
    x_test, y_test = cu.load_digits("test")
    x_all, _ = cu.load_digits("all")
    assert x_train.shape == (1347, 1, 8, 8) and x_test.shape == (450, 1, 8, 8)
    assert len(x_all) == len(x_train) + len(x_test) == 1797
    assert x_train.dtype == torch.float32 and y_train.dtype == torch.int64
    assert 0 <= x_all.min() and x_all.max() == 1
    assert torch.bincount(y_test).min() >= 43  # every class is in the test split
    assert torch.equal(cu.load_digits("test")[0], x_test)  # the same split every time
    with pytest.raises(ValueError, match="split"):
        cu.load_digits("dev")


def test_centre_crop_and_seeded_loader():
    import pytest
    import torch

    x = torch.arange(6 * 8).reshape(1, 6, 8)
    assert torch.equal(cu.centre_crop(x, 4), x[:, 1:5, 2:6])
    with pytest.raises(ValueError, match="to_official_size"):
        cu.centre_crop(x, 7)
    X, c = torch.arange(10.0)[:, None], torch.arange(10)
    order = [b[1].tolist() for b in cu.make_loader(X, c, batch_size=5, seed=3)]
    again = [b[1].tolist() for b in cu.make_loader(X, c, batch_size=5, seed=3)]
    assert order == again and sorted(sum(order, [])) == list(range(10))
    assert order != [b[1].tolist() for b in cu.make_loader(X, c, batch_size=5, seed=4)]
    with pytest.raises(ValueError, match="first dimension"):
        cu.make_loader(X, c[:3], batch_size=2)
    assert cu.n_params(torch.nn.Linear(3, 2)) == 8


def test_challenge_photographs_leave_out_the_dev_set_and_hold_out_validation_pixels():
    names = data.challenge_training_names()
    assert not set(names) & set(cu.list_images("dev"))
    assert "shepp_logan" not in names and "shepp_logan" in cu.list_images("gray")
    assert len(names) == 15
    fit, val, whole = (data.challenge_images(part) for part in ("fit", "validation", "all"))
    assert list(fit) == list(val) == list(whole) == names
    for name in names:
        x = whole[name]
        assert x.shape[0] == 3 and min(x.shape[-2:]) == min(256, *cu.load_image(name).shape[-2:])
        axis = -2 if x.shape[-2] > x.shape[-1] else -1
        # fit and validation tile the image along its longer side, without overlap
        assert torch.equal(torch.cat([fit[name], val[name]], dim=axis), x)
        assert 0.24 <= val[name].shape[axis] / x.shape[axis] <= 0.26
    fine = data.challenge_images("all", scale=2)
    assert all(min(x.shape[-2:]) == 512 for x in fine.values()) and "page" not in fine
    with pytest.raises(ValueError, match="part must be"):
        data.challenge_images("dev")


def test_challenge_patches_augment_fit_but_not_validation():
    fit = cu.challenge_patches("fit", patch_size=32, n_patches=4)
    val = cu.challenge_patches("validation", patch_size=32, n_patches=4, seed=1)
    assert fit[0].shape == val[0].shape == (3, 32, 32)
    assert fit.augment and not val.augment
    assert len(val.images) == 15


def test_to_official_scale_keeps_the_whole_image_and_never_upsamples():
    x = torch.rand(3, 300, 451)
    out = cu.images.to_official_scale(x)
    assert out.shape == (3, 256, 385) and 0 <= out.min() and out.max() <= 1
    small = torch.rand(3, 191, 384)
    assert cu.images.to_official_scale(small) is small


def test_the_challenge_photographs_stay_in_the_unit_range():
    for scale in (1, 2):
        for part in ("fit", "validation"):
            for name, x in data.challenge_images(part, scale).items():
                assert 0 <= float(x.min()) and float(x.max()) <= 1, (name, part, scale)

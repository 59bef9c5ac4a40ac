"""check_images names the problem and the fix."""

import pytest
import torch

from course_utils.validate import check_images


def test_accepts_a_valid_batch():
    x = torch.rand(2, 3, 8, 8)
    assert check_images(x, channels=3, size=(8, 8), value_range=(0, 1)) is x


@pytest.mark.parametrize(
    ("x", "kwargs", "error", "match"),
    [
        ([[0.0]], {}, TypeError, "torch.Tensor"),
        (torch.zeros(1, 3, 8, 8, dtype=torch.int64), {}, TypeError, "floating point"),
        (torch.rand(8, 8), {}, ValueError, r"\(B, C, H, W\)"),
        (torch.rand(1, 8, 8, 3), {"channels": 3}, ValueError, "channels-last"),
        (torch.rand(1, 1, 8, 8), {"channels": 3}, ValueError, "expand"),
        (torch.rand(1, 3, 8, 9), {"size": (8, 8)}, ValueError, "8x9"),
        (torch.rand(1, 3, 8, 8) - 1, {"value_range": (0, 1)}, ValueError, "span"),
        (torch.tensor([[[[float("inf")]]]]), {}, ValueError, "infinite"),
        (torch.rand(1, 3, 8, 8), {"device": "meta"}, ValueError, "must be on meta"),
    ],
)
def test_rejects_bad_input_with_a_clear_message(x, kwargs, error, match):
    with pytest.raises(error, match=match):
        check_images(x, **kwargs)

"""Fast-mode switch, seeding and device choice."""

import pytest
import torch

import course_utils as cu


def test_fast_mode_switch(monkeypatch):
    monkeypatch.setenv("COURSE_FAST", "1")
    assert cu.is_fast() and cu.choose(2, 50) == 2
    monkeypatch.setenv("COURSE_FAST", "0")
    assert not cu.is_fast() and cu.choose(2, 50) == 50
    monkeypatch.delenv("COURSE_FAST")
    assert not cu.is_fast()
    monkeypatch.setenv("COURSE_FAST", "maybe")
    with pytest.raises(ValueError, match="COURSE_FAST"):
        cu.is_fast()


def test_the_test_suite_runs_in_fast_mode():
    assert cu.is_fast(), "conftest.py must set COURSE_FAST=1"


def test_seed_everything_is_reproducible():
    g1 = cu.seed_everything(3)
    a = torch.rand(3, generator=g1), torch.rand(3)
    g2 = cu.seed_everything(3)
    b = torch.rand(3, generator=g2), torch.rand(3)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    with pytest.raises(ValueError):
        cu.seed_everything(-1)


def test_device_defaults(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert cu.get_device().type == expected
    assert cu.get_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA"):
            cu.get_device("cuda")


def test_time_call_returns_the_median_and_checks_its_arguments():
    calls = []
    seconds = cu.time_call(lambda: calls.append(1), repeats=3, warmup=2)
    assert len(calls) == 5 and 0 <= seconds < 1
    with pytest.raises(ValueError, match="repeats"):
        cu.time_call(lambda: None, repeats=0)

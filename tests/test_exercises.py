"""The exercise checks of course_utils.exercises."""

import math

import numpy as np
import pytest
import torch

from course_utils import exercises
from course_utils.exercises import (
    ExerciseMismatch,
    check_close,
    check_function,
    check_value,
    hint,
    reset_attempts,
)

HINTS = {"pointer": "look at cell 3", "formula": "y = 2x", "reference": "torch.mul"}


@pytest.fixture(autouse=True)
def fresh_attempts():
    reset_attempts()
    yield
    reset_attempts()


X = torch.linspace(-1.0, 1.0, 2 * 3 * 4 * 5).reshape(2, 3, 4, 5)


def reference(x):
    return 2 * x


def stub(x):
    # YOUR CODE HERE
    raise NotImplementedError("Exercise not done yet")


# --- check_function ---------------------------------------------------------------------------


def test_not_done_returns_the_reference_and_says_so(capsys):
    assert check_function("double", stub, reference, X, reference_name="torch.mul") is reference
    assert capsys.readouterr().out == (
        "[Exercise: double] not done yet — the notebook continues with the reference "
        "implementation (torch.mul).\n"
    )


def test_correct_function_is_returned(capsys):
    def student(x):
        return x + x

    assert check_function("double", student, reference, X, reference_name="torch.mul") is student
    out = capsys.readouterr().out
    assert out.startswith("[Exercise: double] ✓ matches the reference (max abs error 0)")
    assert "\x1b[" not in out


def test_small_differences_are_within_tolerance(capsys):
    def student(x):
        return 2 * x + 1e-7

    assert check_function("d", student, reference, X, reference_name="r") is student
    assert "✓" in capsys.readouterr().out


def test_wrong_values_raise_with_the_worst_entry(capsys):
    def student(x):
        y = 2 * x
        y[1, 2, 3, 4] += 0.5
        return y

    with pytest.raises(ExerciseMismatch) as info:
        check_function("double", student, reference, X, reference_name="torch.mul")
    message = str(info.value)
    assert isinstance(info.value, AssertionError)
    assert "1 of 120 entries differ" in message
    assert "max abs error 0.5 at [1, 2, 3, 4]: yours 2.5, reference 2" in message
    assert "max rel error 0.25" in message
    assert "restore `raise NotImplementedError`" in message
    printed = capsys.readouterr().out
    assert printed.startswith("[Exercise: double] ✗ differs from the reference (rtol=1e-05")
    assert "max abs error 0.5 at [1, 2, 3, 4]" in printed


def test_shape_mismatch_is_reported():
    with pytest.raises(
        ExerciseMismatch, match=r"shape: yours \(3, 4, 5\), reference \(2, 3, 4, 5\)"
    ):
        check_function("double", lambda x: reference(x)[0], reference, X, reference_name="r")


def test_missing_return_is_reported():
    def student(x):
        2 * x  # noqa: B018

    with pytest.raises(ExerciseMismatch, match="yours is None"):
        check_function("double", student, reference, X, reference_name="r")


def test_wrong_container_type_and_complex_results_are_reported():
    with pytest.raises(ExerciseMismatch, match="type: yours numpy.ndarray .* torch.Tensor"):
        check_function("double", lambda x: 2 * x.numpy(), reference, X, reference_name="r")
    with pytest.raises(ExerciseMismatch, match="dtype: yours complex64, reference float32"):
        check_function(
            "double", lambda x: (2 * x).to(torch.complex64), reference, X, reference_name="r"
        )


def test_tuples_are_compared_element_by_element():
    def ref(x):
        return x, 2 * x

    with pytest.raises(ExerciseMismatch, match=r"output\[1\]: 120 of 120 entries differ"):
        check_function("pair", lambda x: (x, 3 * x + 5), ref, X, reference_name="r")


def test_tuple_outputs_are_named_in_the_report(capsys):
    def ref(x):
        return x, 2 * x

    with pytest.raises(ExerciseMismatch, match=r"gradient: 120 of 120 entries differ"):
        check_function(
            "pair",
            lambda x: (x, 3 * x + 5),
            ref,
            X,
            reference_name="r",
            output_names=("value", "gradient"),
        )
    assert "output[1]" not in capsys.readouterr().out
    with pytest.raises(ValueError, match="3 names for 2 outputs"):
        check_function(
            "pair", lambda x: ref(x), ref, X, reference_name="r", output_names=("a", "b", "c")
        )


# --- hints ------------------------------------------------------------------------------------


def test_hints_come_in_tiers_after_each_wrong_answer(capsys):
    for _ in range(3):  # running the notebook again, exercise untouched: the pointer only
        check_function("double", stub, reference, X, reference_name="r", hints=HINTS)
        out = capsys.readouterr().out
        assert "hint 1/3 (pointer): look at cell 3" in out and "y = 2x" not in out
    with pytest.raises(ExerciseMismatch):
        check_function("double", lambda x: 3 * x, reference, X, reference_name="r", hints=HINTS)
    second = capsys.readouterr().out
    assert "hint 2/3 (formula): y = 2x" in second and "torch.mul" not in second
    assert "next hint comes with your next wrong answer" in second
    for _ in range(2):  # the third tier, and it stays there
        with pytest.raises(ExerciseMismatch):
            check_function("double", lambda x: x, reference, X, reference_name="r", hints=HINTS)
        assert "hint 3/3 (reference): torch.mul" in capsys.readouterr().out


def test_a_check_run_twice_does_not_pass_the_reference_off_as_the_answer(capsys):
    double = stub
    double = check_function("double", double, reference, X, reference_name="r", hints=HINTS)
    assert double is reference
    capsys.readouterr()
    # the stub's cell was not run again: the name now holds the reference
    assert check_function("double", double, reference, X, reference_name="r") is reference
    out = capsys.readouterr().out
    assert "not done yet" in out and "run the cell that defines your function" in out
    assert "✓" not in out


def test_a_value_check_can_keep_the_reference_secret(capsys):
    with pytest.raises(ExerciseMismatch) as info:
        check_value("count", 96, 97, rtol=0, atol=0, reveal=False, hints=HINTS)
    out = capsys.readouterr().out
    assert "96 is not right" in out and "97" not in out and "97" not in str(info.value)
    assert check_value("count", 97, 97, rtol=0, atol=0, reveal=False) == 97
    assert "✓ right: 97" in capsys.readouterr().out


def test_a_correct_answer_shows_no_hint_and_other_exercises_count_apart(capsys):
    check_function("double", stub, reference, X, reference_name="r", hints=HINTS)
    capsys.readouterr()
    check_function("double", lambda x: 2 * x, reference, X, reference_name="r", hints=HINTS)
    assert "hint" not in capsys.readouterr().out
    check_value("other", None, 1.0, hints=HINTS)
    out = capsys.readouterr().out
    assert "hint 1/3" in out and "hint 2/3" not in out


def test_value_checks_give_hints_when_missing_wrong_or_rejected(capsys):
    check_value("count", None, 97, hints=HINTS)
    assert "hint 1/3" in capsys.readouterr().out
    with pytest.raises(ExerciseMismatch):
        check_value("count", 96, 97, hints=HINTS)
    assert "hint 2/3" in capsys.readouterr().out
    with pytest.raises(ExerciseMismatch):
        check_value("positive", -1, fallback=1, validate=lambda v: "negative", hints=HINTS)
    assert "hint 1/3" in capsys.readouterr().out


def test_the_hints_file_is_read_and_checked(tmp_path):
    path = tmp_path / "day0.toml"
    path.write_text('["double"]\npointer = "p"\nformula = "f"\nreference = "r"\n')
    entry = exercises.load_hints(tmp_path)["double"]
    assert entry["notebook"] == "day0"
    assert hint("double", entry).endswith("(the next hint comes with your next wrong answer)")
    assert hint("an exercise without hints") == ""
    (tmp_path / "day1.toml").write_text(path.read_text())
    with pytest.raises(ValueError, match="'double' is also in day0.toml"):
        exercises.load_hints.__wrapped__(tmp_path)
    (tmp_path / "day1.toml").unlink()
    path.write_text('["double"]\npointer = "p"\n')
    with pytest.raises(ValueError, match="'double' has no formula, reference"):
        exercises.load_hints.__wrapped__(tmp_path)


def test_other_exceptions_propagate_unchanged():
    error = RuntimeError("mat1 and mat2 shapes cannot be multiplied")

    def student(x):
        raise error

    with pytest.raises(RuntimeError) as info:
        check_function("double", student, reference, X, reference_name="r")
    assert info.value is error


def test_in_place_changes_do_not_spoil_the_comparison(capsys):
    x = X.clone()

    def student(x):
        return x.mul_(2)

    assert check_function("double", student, reference, x, reference_name="r") is student
    assert torch.equal(x, X)
    assert "modified its argument 1 in place" in capsys.readouterr().out


def test_dtype_difference_is_a_note(capsys):
    def student(x):
        return 2 * x.double()

    assert check_function("double", student, reference, X, reference_name="r") is student
    assert "note: dtype: yours torch.float64, reference torch.float32" in capsys.readouterr().out


# --- check_close ------------------------------------------------------------------------------


def test_check_close_numbers_arrays_and_tensors():
    assert check_close("psnr", torch.tensor(20.31), 20.3, atol=0.1).ok
    assert check_close("a", np.arange(3.0), torch.arange(3.0)).ok
    assert check_close("nan", [1.0, math.nan, math.inf], [1.0, math.nan, math.inf]).ok
    report = check_close("psnr", 21.0, 20.3, atol=0.1)
    assert not report.ok
    assert str(report).splitlines() == [
        "[psnr] ✗ differs from the reference (rtol=1e-05, atol=0.1):",
        "  max abs error 0.7: yours 21, reference 20.3",
    ]
    assert "yours nan, reference 2" in str(check_close("n", [1.0, math.nan], [1.0, 2.0]))
    assert "shape: yours (2,), reference (3,)" in str(check_close("s", np.ones(2), np.ones(3)))
    assert "length: yours 2, reference 3" in str(check_close("l", [1, 2], [1, 2, 3]))
    assert check_close("c", 1 + 1e-3j, 1 + 0j).problems == (
        "max abs error 0.001: yours 1+0.001j, reference 1+0j",
    )


def test_check_close_report_in_an_assert():
    report = check_close("mean", 0.4, 0.5)
    with pytest.raises(
        AssertionError, match=r"\[mean\] ✗ differs .*\n +max abs error 0.1: yours 0.4"
    ):
        assert report.ok, report


# --- check_value ------------------------------------------------------------------------------


def positive(value):
    return None if value > 0 else f"λ must be positive, got {value}."


def test_value_not_set_returns_the_fallback(capsys):
    assert check_value("choose λ", None, fallback=0.05, describe="λ = 0.05") == 0.05
    assert capsys.readouterr().out == (
        "[Exercise: choose λ] not done yet — the notebook continues with λ = 0.05.\n"
    )
    assert check_value("mean", None, 0.5) == 0.5


def test_value_accepted_by_validate(capsys):
    assert check_value("choose λ", 0.1, fallback=0.05, validate=positive) == 0.1
    assert capsys.readouterr().out == "[Exercise: choose λ] ✓ accepted: 0.1.\n"


def test_value_rejected_by_validate(capsys):
    with pytest.raises(ExerciseMismatch, match="λ must be positive, got -1. Fix your value"):
        check_value("choose λ", -1, fallback=0.05, validate=positive, describe="λ = 0.05")
    assert "✗ λ must be positive" in capsys.readouterr().out


def test_value_compared_with_a_reference():
    assert check_value("mean", 0.5 + 1e-9, 0.5) == 0.5 + 1e-9
    with pytest.raises(ExerciseMismatch, match="max abs error 0.1: yours 0.4, reference 0.5"):
        check_value("mean", 0.4, 0.5)


def test_value_needs_a_fallback():
    with pytest.raises(ValueError, match="fallback"):
        check_value("x", None)

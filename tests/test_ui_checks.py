"""The checker machinery: passes the reference, fails wrong code and stubs with the first mismatch."""

import torch

from pgcourse.ui.checks import check_function, first_mismatch


def reference(x, scale=1.0):
    return torch.cumsum(x, -1) * scale


CASES = [((torch.tensor([1.0, 2.0, 3.0]),), {}), ((torch.tensor([[1.0, -1.0]]),), {"scale": 2.0})]


def test_reference_passes(capsys):
    result = check_function("cumsum", reference, reference, CASES)
    assert result.passed and "PASS cumsum: all 2 cases" in capsys.readouterr().out


def test_wrong_value_reports_first_mismatch(capsys):
    result = check_function("cumsum", lambda x, scale=1.0: torch.cumsum(x, -1), reference, CASES)
    assert not result.passed
    assert "case 2" in result.message and "at index (0, 0), expected 2" in result.message
    assert capsys.readouterr().out.startswith("❌ FAIL")


def test_stub_and_crash_are_failures_not_exceptions():
    def stub(x, scale=1.0):
        raise NotImplementedError

    assert "not implemented yet" in check_function("f", stub, reference, CASES, verbose=False).message
    crash = check_function("f", lambda x, scale=1.0: x[99], reference, CASES, verbose=False)
    assert not crash.passed and "raised IndexError" in crash.message


def test_shape_mismatch_and_none():
    assert "shape (2,), expected (3,)" == first_mismatch([1, 2], [1, 2, 3])
    result = check_function("f", lambda x, scale=1.0: None, reference, CASES, verbose=False)
    assert not result.passed


def test_call_reader_reports_stub_and_crash_without_raising():
    from pgcourse.ui.checks import call_reader

    def stub(x):
        raise NotImplementedError

    assert call_reader("f", lambda x: 2 * x, 3) == (6, None)
    value, failure = call_reader("f", stub, 3, stub="not implemented yet: write f")
    assert value is None and not failure.passed and failure.message == "not implemented yet: write f"
    value, failure = call_reader("f", lambda x: 1 / x, 0)
    assert value is None and failure.message == "f(0) raised ZeroDivisionError: division by zero"


def test_number_prediction_accepts_only_finite_numbers_within_tolerance():
    from pgcourse.ui.checks import check_number_prediction

    def check(value):
        return check_number_prediction("p", lambda: value, 0.5, 0.01, matches="the exact value", hint="think",
                                       verbose=False)

    assert check(0.505).passed and "matches the exact value 0.5" in check(0.505).message
    assert not check(0.52).passed and check(0.52).message.endswith("Hint: think")
    assert "return one number" in check("half").message
    assert "return a finite number" in check(float("nan")).message

    def stub():
        raise NotImplementedError

    assert "return your prediction" in check_number_prediction("p", stub, 0.5, 0.01, matches="m", hint="h",
                                                               verbose=False).message

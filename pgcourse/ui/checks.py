"""Exercise checkers: run the reader's function on cases and compare with the reference.

Each checker prints one clear line, ``PASS`` or ``FAIL`` with the first
mismatch, and returns a ``CheckResult`` (``.passed``) so tests can use it. A
stub that raises ``NotImplementedError`` (the student edition) or any other
exception is reported as a failure, never a crash of the notebook.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import torch

__all__ = ["CheckResult", "CheckFailed", "first_mismatch", "check_function", "diagnose", "report", "check_loss", "call_reader",
           "check_number_prediction", "not_yours", "on_copies", "one_line_for_undefined_exercises", "recording"]


@dataclass
class CheckResult:
    """A checker's verdict. ``case``: the failing case's (args, kwargs), kept so the reader can call their
    function on it again (``result.rerun(fn)``); None when the check passed or had no such case."""

    name: str
    passed: bool
    message: str
    case: tuple | None = field(default=None, repr=False, compare=False)

    def rerun(self, fn: Callable):
        """fn on (a copy of) the failing case: what the checker saw, to inspect or print."""
        if self.case is None:
            why = "passed" if self.passed else "had none"
            raise ValueError(f"{self.name}: no failing case is kept (the check {why})")
        args, kwargs = self.case
        return fn(*_copied(args), **_copied(kwargs))

    def __bool__(self) -> bool:
        return self.passed

    def require(self) -> "CheckResult":
        """This result if it passed; else raise CheckFailed, whose traceback is its one line (no source shown),
        so that a graded cell fails (nbgrader counts an error as a failed test) without showing its code."""
        if not self.passed:
            raise CheckFailed(f"{self.name}: {self.message}")
        return self

    def __repr__(self) -> str:
        return f"{'PASS' if self.passed else 'FAIL'} {self.name}: {self.message}"

    def _ipython_display_(self):
        """The checker has printed its line already; show nothing more as the cell's result."""


_RECORDS: list[dict] | None = None
"""While ``recording()`` is active: where check_function and check_loss put their cases and answers."""


@contextlib.contextmanager
def recording():
    """Within the block, check_function and check_loss run only the reference: each appends to the yielded list
    its name, cases and the reference's answers (for a loss, also the gradient into logp), and returns a
    failing result without calling the reader's function. The graded release (pgcourse.grading) stores
    these as expected values in its hidden tests, so grading needs no reference code."""
    global _RECORDS
    previous, _RECORDS = _RECORDS, []
    try:
        yield _RECORDS
    finally:
        _RECORDS = previous


def _record(name: str, kind: str, reference: Callable, cases: list, atol: float, rtol: float,
            hint: bool = False) -> CheckResult:
    entry = {"name": name, "kind": kind, "atol": atol, "rtol": rtol, "hint": hint, "cases": [], "expected": [],
             "grads": []}
    for args, kwargs in cases:
        entry["cases"].append((_copied(args), _copied(kwargs)))
        if kind == "loss":
            logp, weights, *rest = _copied(args)
            logp.requires_grad_(True)
            value = reference(logp, weights.detach(), *rest, **_copied(kwargs))
            (grad,) = torch.autograd.grad(value, (logp,))
            entry["expected"].append(value.detach())
            entry["grads"].append(grad)
        else:
            entry["expected"].append(reference(*_copied(args), **_copied(kwargs)))
    _RECORDS.append(entry)
    return CheckResult(name, False, "recorded, not checked")


class CheckFailed(AssertionError):
    """A failed check in a graded cell (``CheckResult.require``). Jupyter shows its one line instead of a
    traceback (``_render_traceback_``), so a hidden test's source and stored answers never appear in an output."""

    def _render_traceback_(self) -> list[str]:
        return [f"CheckFailed: {self}"]


KEPT = " (to call your function on this case again: r = check_…(your_function), then r.rerun(your_function))"


def _as_array(x):
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=float)


def first_mismatch(got, expected, atol: float = 1e-5, rtol: float = 1e-5) -> str | None:
    """None if got ≈ expected, else a sentence naming the first differing entry."""
    got_a, exp_a = _as_array(got), _as_array(expected)
    if got_a.shape != exp_a.shape:
        return f"shape {tuple(got_a.shape)}, expected {tuple(exp_a.shape)}"
    close = np.isclose(got_a, exp_a, atol=atol, rtol=rtol, equal_nan=False)
    if close.all():
        return None
    index = tuple(int(i) for i in np.argwhere(~close)[0])
    where = f" at index {index}" if index else ""
    return f"{got_a[index]:.6g}{where}, expected {exp_a[index]:.6g}"


def _describe(args, kwargs) -> str:
    def numbers(x):  # nested lists of 6 significant digits: float32's 0.22 prints as 0.22, not 0.2199999988
        if isinstance(x, list):
            return "[" + ", ".join(numbers(y) for y in x) + "]"
        if not isinstance(x, float):
            return repr(x)
        text = f"{x:.6g}"
        return text if any(ch in text for ch in ".en") else text + ".0"   # 1.0 stays a float: 1.0, not 1

    def short(v):
        if isinstance(v, torch.Tensor):
            return f"<tensor of shape {tuple(v.shape)}>" if v.numel() > 6 else f"tensor({numbers(v.tolist())})"
        return repr(v)

    parts = [short(a) for a in args] + [f"{k}={short(v)}" for k, v in kwargs.items()]
    return ", ".join(parts)


def _answer(value) -> str:
    """The reader's answer, as they would write it (a number to 6 digits, else its repr)."""
    if isinstance(value, (torch.Tensor, np.generic)) and np.size(value) == 1:
        value = value.item()
    return f"{value:.6g}" if isinstance(value, float) else repr(value)


def map_leaves(value, leaf: Callable, is_leaf: Callable = lambda v: False):
    """``leaf`` applied to everything in ``value`` that is not a list, tuple or dict (or that ``is_leaf``
    accepts), with the containers rebuilt around the results: the one walk over a case's arguments."""
    if not is_leaf(value):
        if isinstance(value, (list, tuple)):
            return type(value)(map_leaves(v, leaf, is_leaf) for v in value)
        if isinstance(value, dict):
            return {k: map_leaves(v, leaf, is_leaf) for k, v in value.items()}
    return leaf(value)


def _copy_leaf(value):
    if isinstance(value, torch.Tensor):
        return value.detach().clone().requires_grad_(value.requires_grad)
    return value.copy() if isinstance(value, np.ndarray) else value


def _copied(value):
    """A fresh copy of a case's argument (tensors, arrays, and containers of them), so that neither the
    reader's function nor the reference can change what the other one is given."""
    return map_leaves(value, _copy_leaf)


def on_copies(fn: Callable) -> Callable:
    """fn called on copies of its tensor arguments (``clone`` keeps autograd's graph), so that a function that
    writes into its inputs (a correct in-place reward-to-go, say) cannot change its caller's tensors."""
    def copying(*args, **kwargs):
        return fn(*(a.clone() if isinstance(a, torch.Tensor) else a for a in args),
                  **{k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in kwargs.items()})
    return copying


def not_yours(name: str, fn: Callable) -> CheckResult | None:
    """A failing result when ``fn`` is pgcourse's own function of the exercise's name, else None.

    A notebook's setup cell imports some functions whose names its exercises reuse; until the reader's
    cell has run without an error, the name still refers to the library's function, which must not pass.
    """
    module = getattr(fn, "__module__", None) or ""
    if getattr(fn, "__name__", None) == name and module.split(".")[0] == "pgcourse":
        return CheckResult(name, False, f"{name} is still pgcourse's own ({module}.{name}), not yours: run your "
                                        "exercise cell above (without an error), then this check")
    return None


def check_function(name: str, fn: Callable, reference: Callable, cases: Iterable[tuple[tuple, dict]],
                   atol: float = 1e-5, rtol: float = 1e-5, verbose: bool = True, hint: str | None = None,
                   mistakes: Iterable[tuple[str, Callable]] = ()) -> CheckResult:
    """Compare fn(*args, **kwargs) with reference(*args, **kwargs) on every case; report the first failure.

    Each call gets its own copy of the case's inputs: a function that writes into its input (a correct
    in-place reward-to-go, say) is judged on what it returns, and one that corrupts its input cannot
    change what the reference is given.
    hint: makes this a predict-then-check exercise. A wrong answer is told which case is wrong, what the
    reader answered and the hint; the right value is never printed, so the next try is still a prediction
    (where the answer is one of two or three values, naming the wrong case still narrows it down).
    mistakes: (what to say, wrong_fn) pairs (pgcourse/ui/mistakes.py). When the reader's result on the failing
    case is what wrong_fn gives there, and the right answer is not, the line names that mistake first.
    """
    cases = list(cases)
    if _RECORDS is not None:
        return _record(name, "function", reference, cases, atol, rtol, hint=hint is not None)
    result = not_yours(name, fn)
    for k, (args, kwargs) in enumerate(cases if result is None else [], start=1):
        call = f"{name}({_describe(args, kwargs)})"
        try:
            got = fn(*_copied(args), **_copied(kwargs))
        except NotImplementedError:
            result = CheckResult(name, False, f"not implemented yet (case {k}: {call} raised NotImplementedError)")
            break
        except Exception as err:  # the reader's code may fail in any way; report it, don't crash
            result = CheckResult(name, False, f"case {k}: {call} raised {type(err).__name__}: {err}{KEPT}",
                                 (_copied(args), _copied(kwargs)))
            break
        expected = reference(*_copied(args), **_copied(kwargs))
        try:
            mismatch = first_mismatch(got, expected, atol, rtol)
        except (TypeError, ValueError) as err:
            mismatch = f"a value that cannot be compared with a number array ({err})"
        if mismatch is not None and hint is not None:
            result = CheckResult(name, False, f"{call} = {_answer(got)} is not right (case {k} of {len(cases)}). "
                                              f"Hint: {hint}", (_copied(args), _copied(kwargs)))
            break
        if mismatch is not None:
            why = diagnose(fn, reference, mistakes, cases, k - 1, atol, rtol) if mistakes else None
            said = f"case {k}: {why} ({call} returned {mismatch})" if why else f"case {k}: {call} returned {mismatch}"
            result = CheckResult(name, False, said + KEPT, (_copied(args), _copied(kwargs)))
            break
    if result is None:
        result = CheckResult(name, True, f"all {len(cases)} cases match the reference")
    return report(result, verbose)


def _same(a, b, atol: float, rtol: float) -> bool:
    """a and b hold the same numbers (NaN where the other has NaN), in the same shape."""
    try:
        x, y = _as_array(a), _as_array(b)
    except (TypeError, ValueError):
        return False
    return x.shape == y.shape and bool(np.allclose(x, y, atol=atol, rtol=rtol, equal_nan=True))


def diagnose(fn: Callable, reference: Callable, mistakes: Iterable[tuple[str, Callable]], cases: list,
             failing: int, atol: float = 1e-5, rtol: float = 1e-5) -> str | None:
    """What the first mistake says whose wrong function gives the reader's results on every case it applies to,
    the failing case (index ``failing``) among them, where the right answer differs. One case alone could
    match by accident (a 1×1 case gives the same for many mistakes); all of them together name the mistake."""
    def on(f, args, kwargs):
        return f(*_copied(args), **_copied(kwargs))

    try:
        got = [on(fn, args, kwargs) for args, kwargs in cases]
    except Exception:  # noqa: BLE001 - the reader's function fails elsewhere: no diagnosis
        return None
    for why, wrong in mistakes:
        matched = False
        for j, (args, kwargs) in enumerate(cases):
            try:
                value = on(wrong, args, kwargs)
            except Exception:  # noqa: BLE001 - this mistake does not apply to this case
                if j == failing:
                    break
                continue
            if not _same(got[j], value, atol, rtol):
                break
            if j == failing:
                matched = not _same(on(reference, args, kwargs), value, atol, rtol)
        else:
            if matched:
                return why
    return None


def report(result: CheckResult, verbose: bool = True) -> CheckResult:
    """Print the checker's one line (✅ PASS … or ❌ FAIL …) when verbose; return the result.

    In a learner's workspace (``make lab``) the verdict of a course checker is also recorded for
    ``make progress`` (pgcourse.course.record_verdict); elsewhere nothing is written."""
    from pgcourse.course import record_verdict

    record_verdict(result.passed)
    if verbose:
        print(("✅ " if result.passed else "❌ ") + repr(result))
    return result


def call_reader(name: str, fn: Callable, *args, stub: str = "not implemented yet (raised NotImplementedError)"):
    """Call the reader's fn(*args): (value, None), or (None, a failing CheckResult) if it raised.

    ``stub`` is the message for NotImplementedError (the student edition's stub); any other
    exception is reported with its type and message, never raised into the notebook.
    """
    library = not_yours(name, fn)
    if library is not None:
        return None, library
    try:
        return fn(*args), None
    except NotImplementedError:
        return None, CheckResult(name, False, stub)
    except Exception as err:  # the reader's code may fail in any way; report it, don't crash
        call = f"{name}({', '.join(repr(a) for a in args)})" if args else "calling it"
        return None, CheckResult(name, False, f"{call} raised {type(err).__name__}: {err}")


def check_number_prediction(name: str, predict: Callable, exact: float, tol: float, *, matches: str, hint: str,
                            verbose: bool = True) -> CheckResult:
    """Check a predict-then-check exercise: predict() -> one finite number, PASS within tol of exact.

    ``matches`` names the quantity in the PASS line ("the exact ratio …"); ``hint`` ends the FAIL line.
    """
    value, failure = call_reader(name, predict, stub="not implemented yet: return your prediction, a number")
    if failure is not None:
        return report(failure, verbose)
    try:
        value = float(value)
    except (TypeError, ValueError):
        return report(CheckResult(name, False, f"predict() returned {value!r}; return one number"), verbose)
    if not math.isfinite(value):
        return report(CheckResult(name, False, f"predict() returned {value!r}; return a finite number"), verbose)
    if abs(value - exact) <= tol:
        return report(CheckResult(name, True, f"your prediction {value:.4g} matches {matches} {exact:.4g}"), verbose)
    return report(CheckResult(name, False, f"your prediction {value:.4g} is not within {tol:g} of the answer. "
                                           f"Hint: {hint}"), verbose)


def check_loss(name: str, fn: Callable, reference: Callable, cases: Iterable[tuple[tuple, dict]],
               atol: float = 1e-5, rtol: float = 1e-5, verbose: bool = True,
               mistakes: Iterable[tuple[str, Callable]] = ()) -> CheckResult:
    """Check a pseudo-loss exercise: fn(logp, weights, *rest, **kwargs) → scalar L, on every case.

    Three things must hold, as for the reference: the value; the gradient with respect to logp
    (what autodiff sends into the policy); and no gradient into the weights (they are constants
    of the gradient step, so the loss must use ``weights.detach()``). Reports the first failure.
    """
    cases = list(cases)
    if _RECORDS is not None:
        return _record(name, "loss", reference, cases, atol, rtol)
    result = check_function(name, fn, reference, cases, atol, rtol, verbose=False, mistakes=mistakes)
    if not result.passed:
        return report(result, verbose)
    for k, ((logp, weights, *rest), kwargs) in enumerate(cases, start=1):
        logp, weights = logp.clone().requires_grad_(True), weights.clone().requires_grad_(True)
        try:
            loss = on_copies(fn)(logp, weights, *rest, **kwargs)
            grad_logp, grad_w = torch.autograd.grad(loss, (logp, weights), allow_unused=True)
        except Exception as err:  # e.g. the loss was computed outside autograd (.item(), .detach() on logp)
            return report(CheckResult(name, False, f"case {k}: could not differentiate the loss with respect to "
                                      f"logp ({type(err).__name__}: {err}); build it from logp with torch "
                                      "operations, without .item() or .detach() on logp"), verbose)
        if grad_w is not None and bool((grad_w != 0).any()):  # NaN counts too
            return report(CheckResult(name, False, f"case {k}: the loss sends a gradient into the weights; they are "
                                      "constants of the gradient step: use weights.detach()"), verbose)
        ref_logp = logp.detach().clone().requires_grad_(True)
        (expected,) = torch.autograd.grad(reference(ref_logp, weights.detach(), *rest, **kwargs), (ref_logp,))
        mismatch = first_mismatch(torch.zeros_like(expected) if grad_logp is None else grad_logp, expected, atol, rtol)
        if mismatch is not None:
            return report(CheckResult(name, False, f"case {k}: ∂{name}/∂logp is {mismatch}"), verbose)
    return report(CheckResult(name, True, f"all {len(cases)} cases match the reference: the value, the gradient "
                                          "into logp, and none into the weights"), verbose)


def _undefined_exercise(shell, etype, value, tb, tb_offset=None):
    """IPython's handler of NameError: a cell that hands a checker a name not defined yet gets one line, not a
    traceback (the exercise cell above has not run, or stopped at an error); any other NameError is shown as usual."""
    name = getattr(value, "name", None)
    history = shell.user_ns.get("_ih") or [""]
    call = re.search(rf"(?<![\w.])(check_\w+)\(\s*{re.escape(name)}\b", history[-1] or "") if name else None
    checker = shell.user_ns.get(call.group(1)) if call else None
    if checker is not None and (getattr(checker, "__module__", None) or "").startswith("pgcourse."):
        line = f"❌ FAIL {name}: not defined yet: run your exercise cell above (without an error), then this check"
        return shell._showtraceback(etype, value, [line])   # an error of one line, which the notebook still sees
    return shell.showtraceback((etype, value, tb), tb_offset=tb_offset)


def one_line_for_undefined_exercises(shell=None) -> bool:
    """Make a checker called on a name not defined yet say so in one line (in a Jupyter kernel: done on import)."""
    if shell is None:
        try:
            from IPython import get_ipython
        except ImportError:
            return False
        shell = get_ipython()
    if shell is None:
        return False
    shell.set_custom_exc((NameError,), _undefined_exercise)
    return True


def _in_a_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


if _in_a_kernel():
    one_line_for_undefined_exercises()

"""Grading from stored answers: the hidden tests of the graded release (``python -m pgcourse.grading``).

A course checker compares the reader's function with reference code that ships in this package. The
graded release must not grade that way, so for each checker built on ``check_function`` or ``check_loss``
the builder runs the checker once under ``recording()`` and stores its cases and the reference's answers
(for a loss, also the gradient into logp) in the cell's hidden test, as text (``encode``).
``stored_check(fn, blob)`` then judges the reader's function against those numbers alone: no reference
function is called. The blob is read with ``torch.load(..., weights_only=True)``: tensors, numbers and
containers only, never code.
"""

from __future__ import annotations

import base64
import io
import zlib
from collections.abc import Callable

import numpy as np
import torch

from .checks import CheckResult, _copied, _describe, first_mismatch, map_leaves, on_copies, report

__all__ = ["encode", "decode", "stored_check"]

_NDARRAY = "__ndarray__"


def _pack_leaf(x):
    if isinstance(x, np.ndarray):
        return {_NDARRAY: torch.from_numpy(np.ascontiguousarray(x).copy())}
    return x.item() if isinstance(x, np.generic) else x


def _tagged(x) -> bool:
    return isinstance(x, dict) and set(x) == {_NDARRAY}


def _pack(x):
    """NumPy arrays as tagged tensors (weights_only loading accepts tensors, not arrays); containers kept."""
    return map_leaves(x, _pack_leaf)


def _unpack(x):
    return map_leaves(x, lambda v: v[_NDARRAY].numpy() if _tagged(v) else v, is_leaf=_tagged)


def encode(entry: dict) -> str:
    """A recorded check (``pgcourse.ui.checks.recording``) as one line of text: compressed, base64.

    ValueError if it holds something that cannot be stored as tensors, numbers and containers (a case
    whose input is an environment or a function, say): that check has no stored answers."""
    buffer = io.BytesIO()
    try:
        torch.save(_pack(entry), buffer)
        decode_bytes = buffer.getvalue()
        torch.load(io.BytesIO(decode_bytes), weights_only=True)
    except Exception as err:  # noqa: BLE001 - pickling errors come in many types
        raise ValueError(f"the cases of {entry.get('name')!r} cannot be stored as numbers: "
                         f"{type(err).__name__}: {str(err).splitlines()[0]}") from None
    return base64.b64encode(zlib.compress(decode_bytes, 9)).decode("ascii")


def decode(blob: str) -> dict:
    """The recorded check that ``encode`` wrote (weights_only: no code is unpickled)."""
    data = zlib.decompress(base64.b64decode(blob.encode("ascii")))
    return _unpack(torch.load(io.BytesIO(data), weights_only=True))


def stored_check(fn: Callable, blob: str, verbose: bool = True) -> CheckResult:
    """Judge the reader's ``fn`` against the stored answers in ``blob``: every case's value (and for a
    pseudo-loss the gradient into logp, and none into the weights). Prints one line; returns the result."""
    entry = decode(blob)
    name, atol, rtol = entry["name"], entry["atol"], entry["rtol"]
    for k, ((args, kwargs), expected) in enumerate(zip(entry["cases"], entry["expected"]), start=1):
        call = f"{name}({_describe(args, kwargs)})"
        try:
            got = fn(*_copied(args), **_copied(kwargs))
        except NotImplementedError:
            return report(CheckResult(name, False, "hidden test: not implemented yet"), verbose)
        except Exception as err:  # noqa: BLE001 - the reader's code may fail in any way
            return report(CheckResult(name, False, f"hidden test, case {k}: {call} raised "
                                                   f"{type(err).__name__}: {err}"), verbose)
        try:
            mismatch = first_mismatch(got, expected, atol, rtol)
        except (TypeError, ValueError) as err:
            mismatch = f"a value that cannot be compared with a number array ({err})"
        if mismatch is not None and entry.get("hint"):   # a prediction: its value is never shown
            return report(CheckResult(name, False, f"hidden test, case {k}: {call} is not right"), verbose)
        if mismatch is not None:
            return report(CheckResult(name, False, f"hidden test, case {k}: {call} returned {mismatch}"), verbose)
        if entry["kind"] == "loss":
            logp, weights, *rest = _copied(args)
            logp, weights = logp.requires_grad_(True), weights.requires_grad_(True)
            try:
                grad_logp, grad_w = torch.autograd.grad(on_copies(fn)(logp, weights, *rest, **_copied(kwargs)),
                                                        (logp, weights), allow_unused=True)
            except Exception as err:  # noqa: BLE001
                return report(CheckResult(name, False, f"hidden test, case {k}: the loss cannot be differentiated "
                                                       f"with respect to logp ({type(err).__name__})"), verbose)
            if grad_w is not None and bool((grad_w != 0).any()):
                return report(CheckResult(name, False, f"hidden test, case {k}: a gradient flows into the "
                                                       "weights"), verbose)
            grad = torch.zeros_like(logp) if grad_logp is None else grad_logp
            mismatch = first_mismatch(grad, entry["grads"][k - 1], atol, rtol)
            if mismatch is not None:
                return report(CheckResult(name, False, f"hidden test, case {k}: ∂{name}/∂logp is {mismatch}"),
                              verbose)
    return report(CheckResult(name, True, f"hidden test: all {len(entry['cases'])} stored cases match"), verbose)

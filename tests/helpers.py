"""Assertions shared by the notebook tests."""

import math


def not_implemented(*args, **kwargs):
    """The student edition's stub of an exercise: every checker must report it as a failure, not crash."""
    raise NotImplementedError()


def history_rows(history):
    """History rows without the wall-clock column (the only one that differs between equal runs)."""
    return [{k: v for k, v in row.items() if k != "wall_s"} for row in history.rows()]


def assert_same_history(a, b):
    """Two training runs are the same run: equal rows (NaN equals NaN), wall time aside, and the same outcome."""
    assert (a.solved, a.diverged) == (b.solved, b.diverged)
    ra, rb = history_rows(a), history_rows(b)
    assert len(ra) == len(rb)
    for x, y in zip(ra, rb):
        assert x.keys() == y.keys()
        for key in x:
            assert (math.isnan(x[key]) and math.isnan(y[key])) or x[key] == y[key], key


def rerun_with(panel, **values):
    """Move the panel's controls as a reader would, press its button, and check the figure was redrawn.

    The panel must have drawn once already. Returns the new result (``panel.result``).
    """
    before = panel.png
    assert before[:4] == b"\x89PNG", "the panel has drawn a PNG figure before the controls move"
    panel.set(**values)
    panel.button.click()
    assert "color:#b00" not in panel.status.value, f"the panel failed: {panel.status.value}"
    assert panel.png != before, f"the figure did not change after setting {values}"
    return panel.result

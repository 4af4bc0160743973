"""The Panel component, headless: build, move a control, press the button, see the figure change."""

import pytest

from pgcourse.ui.panel import Panel, choice, lr_slider, n_slider


def _panel(calls):
    def compute(n_traj, lr, mode):
        calls.append((n_traj, lr, mode))
        return n_traj * lr if mode == "times" else n_traj + lr

    def draw(fig, result, earlier):
        ax = fig.subplots()
        ax.bar([str(i) for i in range(len(earlier) + 1)], [r for _, r in earlier] + [result])
        ax.set_title(f"result {result:.3g}")

    return Panel("test", {"n_traj": n_slider(16), "lr": lr_slider(0.01), "mode": choice(["times", "plus"], "times", "mode")},
                 compute, draw, button="Train", keep=3)


def test_button_runs_compute_with_the_controls_values_and_redraws():
    calls = []
    panel = _panel(calls)
    assert panel.png == b"" and panel.image.value == b""
    panel.button.click()
    assert calls == [(16, 0.01, "times")] and panel.result == pytest.approx(0.16)
    first = panel.image.value
    assert first[:4] == b"\x89PNG"
    panel.set(n_traj=64, mode="plus")
    panel.button.click()
    assert calls[-1] == (64, 0.01, "plus") and panel.result == pytest.approx(64.01)
    assert panel.image.value != first
    assert [v for v, _ in panel.runs] == [{"n_traj": 16, "lr": 0.01, "mode": "times"},
                                         {"n_traj": 64, "lr": 0.01, "mode": "plus"}]
    assert "n_traj = 64" in panel.status.value


def test_unknown_control_is_a_clear_error():
    panel = _panel([])
    with pytest.raises(ValueError, match="this panel has no control 'batch'"):
        panel.set(batch=3)


def test_snapshot_is_a_static_png():
    panel = _panel([])
    image = panel.snapshot()
    assert image.data[:4] == b"\x89PNG"


def test_auto_panel_recomputes_on_change():
    calls = []
    panel = Panel("auto", {"n_traj": n_slider(4)}, lambda n_traj: calls.append(n_traj) or n_traj,
                  lambda fig, r, e: fig.subplots().plot([r]), auto=True)
    panel.controls["n_traj"].value = 8
    assert calls == [8] and panel.png

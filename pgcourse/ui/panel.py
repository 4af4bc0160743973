"""The course's one interactive component: a ``Panel`` of controls, a button and a figure.

Every notebook's panel looks and behaves the same: a title, a row of sliders
(batch size N, learning rate, and the notebook's own knob), a button, a status
line, and the figure, drawn by matplotlib into a PNG shown in an
``ipywidgets.Image``. Builders return the widget and never call ``display()``,
so tests can build panels headless, set their sliders and press their buttons::

    panel = Panel("J(θ) by sampling", {"n_traj": n_slider()}, compute, draw)
    panel.controls["n_traj"].value = 64
    panel.run()                 # what the button does; returns compute(**panel.values)
    panel.png                   # the figure's PNG bytes

In a notebook: ``panel.run(); display(panel, panel.snapshot())``; the
snapshot is a static copy of the default setting's figure, so the stored
notebook (and the static site) show the result without a kernel.
"""

from __future__ import annotations

import html
import io
import time
from collections.abc import Callable, Mapping
from typing import Any

import ipywidgets as w
from matplotlib.figure import Figure

__all__ = ["STYLE", "LAYOUT", "DPI", "n_slider", "lr_slider", "int_slider", "float_slider", "choice", "toggle",
           "Panel"]

STYLE = {"description_width": "9em"}
LAYOUT = w.Layout(width="26em")
DPI = 100


def n_slider(value: int = 16, min: int = 1, max: int = 1024, description: str = "batch size N") -> w.IntSlider:
    """Batch size N (trajectories per estimate or per gradient step): a log-scale choice of powers of two."""
    options = [v for v in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192) if min <= v <= max]
    if value not in options:
        options = sorted(set(options) | {value})
    return w.SelectionSlider(options=options, value=value, description=description, style=STYLE,
                             layout=LAYOUT, continuous_update=False)


def lr_slider(value: float = 0.02, min_exp: float = -4, max_exp: float = 0, description: str = "learning rate α"):
    """Learning rate on a log scale, 10^min_exp … 10^max_exp."""
    return w.FloatLogSlider(value=value, base=10, min=min_exp, max=max_exp, step=0.25, description=description,
                            style=STYLE, layout=LAYOUT, continuous_update=False, readout_format=".2g")


def int_slider(value: int, min: int, max: int, description: str, step: int = 1) -> w.IntSlider:
    return w.IntSlider(value=value, min=min, max=max, step=step, description=description, style=STYLE,
                       layout=LAYOUT, continuous_update=False)


def float_slider(value: float, min: float, max: float, description: str, step: float = 0.05) -> w.FloatSlider:
    return w.FloatSlider(value=value, min=min, max=max, step=step, description=description, style=STYLE,
                         layout=LAYOUT, continuous_update=False, readout_format=".2f")


def choice(options, value, description: str) -> w.ToggleButtons:
    """A small set of named options (optimizer, estimator …)."""
    return w.ToggleButtons(options=options, value=value, description=description, style=STYLE)


def toggle(value: bool, description: str) -> w.Checkbox:
    return w.Checkbox(value=value, description=description, style=STYLE, indent=False)


class Panel(w.VBox):
    """Controls → ``compute(**values)`` → ``draw(fig, result, earlier)`` → PNG figure.

    controls: name → ipywidget with a ``value``; the names are ``compute``'s keyword arguments.
    compute: deterministic for given values on one machine (seeds are controls or fixed), returns any result.
    draw: draws ``result`` on a fresh matplotlib Figure; ``earlier`` is the list of
    (values, result) of previous runs, newest last, for "beside earlier runs" plots.
    auto: recompute whenever a control changes (for panels that redraw in well under a second);
    otherwise the button (labelled ``button``) runs it.
    keep: how many earlier runs ``draw`` receives (0 = none).
    """

    def __init__(self, title: str, controls: Mapping[str, w.Widget], compute: Callable[..., Any],
                 draw: Callable[[Figure, Any, list], None], *, button: str = "Run", auto: bool = False,
                 keep: int = 0, figsize: tuple[float, float] = (9.0, 3.4), help: str | None = None):
        self.controls = dict(controls)
        self.compute, self.draw = compute, draw
        self.keep, self.figsize = int(keep), figsize
        self.result: Any = None
        self.runs: list[tuple[dict, Any]] = []
        self.png: bytes = b""
        self.button = w.Button(description=button, button_style="primary", icon="play",
                               layout=w.Layout(width="10em"))
        self.button.on_click(self._press)
        self.status = w.HTML(value="<i>press the button</i>" if not auto else "")
        self.image = w.Image(format="png", layout=w.Layout(max_width="100%"))
        self.output_area = w.Output()  # where compute's own output goes (e.g. a tqdm progress bar)
        header = w.HTML(f"<b>{html.escape(title)}</b>" + (f"<br><small>{html.escape(help)}</small>" if help else ""))
        rows = list(self.controls.values())
        super().__init__([header, w.VBox(rows), w.HBox([self.button, self.status]), self.output_area, self.image],
                         layout=w.Layout(border="1px solid #ccc", padding="6px"))
        if auto:
            for control in self.controls.values():
                control.observe(lambda change: self.run(), names="value")

    @property
    def values(self) -> dict:
        """The controls' current values, as passed to ``compute``."""
        return {name: control.value for name, control in self.controls.items()}

    def set(self, **values) -> "Panel":
        """Move controls (as a reader would) without running; returns the panel."""
        for name, value in values.items():
            if name not in self.controls:
                raise ValueError(f"this panel has no control {name!r}; it has {', '.join(self.controls)}")
            self.controls[name].value = value
        return self

    def run(self):
        """Compute with the current values, redraw, and return the result (what the button does)."""
        values = self.values
        self.button.disabled = True
        self.status.value = "<i>running…</i>"
        start = time.perf_counter()
        try:
            if _in_kernel():  # outside a kernel clear_output would print terminal escape codes
                self.output_area.clear_output()
            with self.output_area:
                result = self.compute(**values)
            earlier = self.runs[-self.keep:] if self.keep else []
            fig = Figure(figsize=self.figsize, dpi=DPI, layout="constrained")
            self.draw(fig, result, earlier)
            buffer = io.BytesIO()
            fig.savefig(buffer, format="png", dpi=DPI)
        except KeyboardInterrupt:  # the notebook's interrupt: keep the last figure, stay usable
            self.status.value = "<span style='color:#b00'>interrupted; press the button to run again</span>"
            raise
        except Exception as err:  # any failure: say which, in red, keep the last figure
            what = "" if isinstance(err, ValueError) else f"{type(err).__name__}: "
            self.status.value = f"<span style='color:#b00'>{html.escape(what + str(err))}</span>"
            raise
        finally:
            self.button.disabled = False
        self.png = buffer.getvalue()
        self.image.value = self.png
        self.figure = fig
        self.result = result
        self.runs.append((values, result))
        shown = ", ".join(f"{k} = {_fmt(v)}" for k, v in values.items())
        self.status.value = f"{shown} — {time.perf_counter() - start:.1f} s"
        return result

    def _press(self, _button) -> None:
        """The button: run, and leave a failure in the status line (red) rather than the widget log."""
        try:
            self.run()
        except (Exception, KeyboardInterrupt):
            pass

    def snapshot(self):
        """A static PNG of the current figure, for the stored notebook (IPython.display.Image)."""
        from IPython.display import Image

        if not self.png:
            self.run()
        return Image(data=self.png, format="png")


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)

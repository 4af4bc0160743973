"""The course in a real browser: JupyterLab (via `make lab`) driven in Debian's Chromium by Playwright.

Needs /usr/bin/chromium (`apt-get install chromium`; .ci/run installs it). No browser is downloaded.
Without Chromium these tests skip with one line, unless PGCOURSE_REQUIRE_BROWSER=1 (as in CI),
where a missing browser is a failure.
The notebooks are copied to a temporary folder first, so JupyterLab's autosave never touches the
stored notebooks.
"""

import os
import shutil
from pathlib import Path

import pytest

from browser import (CHROMIUM, ROOT, chromium_page, move_slider_and_run, run_all_cells, running_lab, shutdown_kernels,
                     wait_idle, wait_kernels_idle)

pytestmark = pytest.mark.slow
NOTEBOOKS = ROOT / "notebooks"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        message = "Debian's Chromium is missing: apt-get install chromium (the browser test needs it)"
        if os.environ.get("PGCOURSE_REQUIRE_BROWSER") == "1":
            pytest.fail(message + "; PGCOURSE_REQUIRE_BROWSER=1 makes it required")
        pytest.skip(message)
    folder = tmp_path_factory.mktemp("notebooks")
    for name in ("00_welcome.ipynb", "01_estimating_J.ipynb", "09_implementing_policy_gradients.ipynb"):
        shutil.copy(NOTEBOOKS / name, folder / name)
    log = tmp_path_factory.mktemp("lab") / "lab.log"
    with running_lab(log, folder) as (base, token):
        yield base, token, tmp_path_factory.mktemp("browser")


@pytest.fixture(autouse=True)
def _own_kernels(lab):
    """Each test starts with no kernel running and leaves none behind (two cores are shared with the lab).

    The notebook tests open their notebook in a workspace of their own (lab/workspaces/<name>/...?reset): the
    lab's default workspace remembers the tabs an earlier test opened, and a panel in a hidden tab is never visible.
    """
    base, token, _ = lab
    shutdown_kernels(base, token)
    yield
    shutdown_kernels(base, token)


def _outside_requests(page, base):
    seen = []
    local = (base, base.replace("http", "ws"), "data:", "blob:", "about:")
    page.on("request", lambda r: None if r.url.startswith(local) else seen.append(r.url))
    return seen


def test_lab_opens_on_the_first_notebook_without_popups_or_internet(lab):
    base, token, out = lab
    with chromium_page(out / "profile-welcome") as page:
        outside = _outside_requests(page, base)
        page.goto(f"{base}/?token={token}")  # the server's front door sends the reader to notebook 00
        page.wait_for_selector(".jp-Notebook:visible", timeout=60_000)
        page.wait_for_timeout(5_000)  # news/update prompts would appear by now
        page.screenshot(path=str(out / "lab_welcome.png"))
        assert "00_welcome.ipynb" in page.url or page.locator(".lm-TabBar-tab.lm-mod-current",
                                                              has_text="00_welcome").count() == 1
        assert page.get_by_text("official Jupyter news").count() == 0
        assert page.locator(".jp-toast-message, .Toastify__toast").count() == 0
        assert outside == [], f"requests left the machine: {outside[:5]}"


def test_notebook_09_batch_size_slider_and_train_redraw_the_learning_curve(lab):
    base, token, out = lab
    with chromium_page(out / "profile-09") as page:
        outside = _outside_requests(page, base)
        page.goto(f"{base}/lab/workspaces/t09/tree/09_implementing_policy_gradients.ipynb?reset&token={token}")
        page.wait_for_selector(".jp-Notebook:visible", timeout=60_000)
        page.wait_for_timeout(2_000)
        run_all_cells(page)
        wait_kernels_idle(base, token)
        before, after, readout = move_slider_and_run(page, "batch size N", button="Train")
        wait_idle(page)
        wait_kernels_idle(base, token)
        page.screenshot(path=str(out / "nb09_after_train.png"), full_page=False)
        assert before and after and after != before, "the learning-curve image changed after Train"
        assert readout != "8", "the batch-size slider moved off its default"
        assert page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']",
                            has_text="Traceback").count() == 0
        assert outside == [], f"requests left the machine: {outside[:5]}"


def test_notebook_01_n_slider_redraws(lab):
    base, token, out = lab
    with chromium_page(out / "profile-01") as page:
        page.goto(f"{base}/lab/workspaces/t01/tree/01_estimating_J.ipynb?reset&token={token}")
        page.wait_for_selector(".jp-Notebook:visible", timeout=60_000)
        page.wait_for_timeout(2_000)
        run_all_cells(page)
        wait_kernels_idle(base, token)
        before, after, _ = move_slider_and_run(page, "batch size N")
        page.screenshot(path=str(out / "nb01_after_slider.png"))
        assert before and after and after != before

"""Start `make lab` for a test, and drive JupyterLab in Debian's Chromium with Playwright (no browser download)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync", "--disable-quic"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _accepts(port: int) -> bool:
    """True when something accepts TCP connections on 127.0.0.1:port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@contextmanager
def running_lab(log: Path, notebook_dir: Path | None, port: int | None = None, env: dict | None = None,
                make_args: tuple[str, ...] = ()):
    """`make lab` on a free port serving ``notebook_dir`` (None: make's default, the learner's workspace);
    yields (base_url, token); stops it afterwards. ``make_args``: more make variables, e.g. WORK=…"""
    port = port or free_port()
    env = {**os.environ, **(env or {})}
    with log.open("w") as out:
        # a workspace folder of its own: no notebooks restored from earlier sessions, nothing left in $HOME
        workspaces = f"LAB_ARGS=--LabApp.workspaces_dir={log.parent / 'workspaces'}"
        folder = [] if notebook_dir is None else [f"NOTEBOOK_DIR={notebook_dir}"]
        proc = subprocess.Popen(["make", "-s", "lab", f"PORT={port}", *folder, workspaces, *make_args],
                                cwd=ROOT, stdout=out,
                                stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        for _ in range(240):
            found = re.search(rf"http://127\.0\.0\.1:{port}/lab\S*\?token=(\w+)", log.read_text())
            if found and _accepts(port):  # the URL can be printed a moment before the port accepts connections
                yield f"http://127.0.0.1:{port}", found.group(1)
                return
            if proc.poll() is not None:
                raise RuntimeError(f"make lab exited early:\n{log.read_text()}")
            time.sleep(0.5)
        raise RuntimeError(f"JupyterLab did not print its URL:\n{log.read_text()}")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


@contextmanager
def chromium_page(user_data_dir: Path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(user_data_dir), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000})
        try:
            page = context.pages[0] if context.pages else context.new_page()
            yield page
        finally:
            context.close()


def run_all_cells(page, timeout_s: float = 240):
    """Run ▸ Run All Cells, then wait until no cell is queued or running."""
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name=re.compile(r"^Run All Cells")).click()
    wait_idle(page, timeout_s)


def wait_idle(page, timeout_s: float = 240):
    page.wait_for_timeout(500)
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        busy = page.evaluate("""() => [...document.querySelectorAll('.jp-InputArea-prompt')]
                                   .some(e => e.textContent.includes('*'))""")
        if not busy:
            page.wait_for_timeout(300)
            if not page.evaluate("""() => [...document.querySelectorAll('.jp-InputArea-prompt')]
                                   .some(e => e.textContent.includes('*'))"""):
                return
        page.wait_for_timeout(250)
    raise TimeoutError("cells still running")


def _kernels(base: str, token: str) -> list[dict]:
    with urllib.request.urlopen(f"{base}/api/kernels?token={token}", timeout=10) as response:
        return json.loads(response.read())


def wait_kernels_idle(base: str, token: str, timeout_s: float = 240) -> None:
    """Wait until every kernel of the lab reports idle twice in a row, half a second apart.

    A widget's button runs in the kernel without a cell prompt showing '*', and JupyterLab renders only the
    cells near the viewport, so the prompts alone can say idle while a kernel still computes.
    """
    deadline = time.time() + timeout_s
    idle_polls = 0
    while time.time() < deadline:
        kernels = _kernels(base, token)
        idle_polls = idle_polls + 1 if kernels and all(k["execution_state"] == "idle" for k in kernels) else 0
        if idle_polls == 2:
            return
        time.sleep(0.5)
    raise TimeoutError(f"kernels still busy after {timeout_s:.0f} s: {_kernels(base, token)}")


def shutdown_kernels(base: str, token: str) -> None:
    """Stop every kernel of the lab, so one test's kernel does not take the next test's CPU."""
    for kernel in _kernels(base, token):
        request = urllib.request.Request(f"{base}/api/kernels/{kernel['id']}?token={token}", method="DELETE")
        urllib.request.urlopen(request, timeout=30).close()


def panel_locator(page, slider_label: str):
    """The output area of the panel that has a slider labelled ``slider_label``."""
    return page.locator(".jp-OutputArea-output", has=page.locator(f".widget-slider:has-text('{slider_label}')")).first


def move_slider_and_run(page, slider_label: str, button: str | None = None, timeout_s: float = 120):
    """Press → on the slider, press the panel's button (if any); return (old src, new src, new readout)."""
    panel = panel_locator(page, slider_label)
    image = panel.locator(".widget-image").first
    image.wait_for(timeout=60_000)
    before = image.get_attribute("src")
    slider = panel.locator(f".widget-slider:has-text('{slider_label}')").first
    slider.locator(".noUi-handle").first.focus()
    page.keyboard.press("ArrowRight")
    readout = slider.locator(".widget-readout").first.inner_text()
    if button is not None:
        panel.get_by_role("button", name=button).click()
    else:
        panel.locator("button.widget-button").first.click()
    deadline = time.time() + timeout_s
    after = before
    while time.time() < deadline and after == before:
        page.wait_for_timeout(200)
        after = image.get_attribute("src")
    return before, after, readout

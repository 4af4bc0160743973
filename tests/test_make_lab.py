"""`make lab` serves JupyterLab on 127.0.0.1 with token authentication on."""

import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


@pytest.mark.slow
def test_make_lab_binds_localhost_and_requires_a_token(tmp_path):
    port = _free_port()
    log = tmp_path / "lab.log"
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    with log.open("w") as out:
        proc = subprocess.Popen(["make", "-s", "lab", f"PORT={port}"], cwd=ROOT, stdout=out,
                                stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        token = None
        for _ in range(120):
            found = re.search(rf"http://127\.0\.0\.1:{port}/lab\S*\?token=(\w+)", log.read_text())
            if found:
                token = found.group(1)
                break
            assert proc.poll() is None, log.read_text()
            time.sleep(0.5)
        assert token, log.read_text()
        base = f"http://127.0.0.1:{port}"
        assert _status(f"{base}/api/status") == 403          # no token: refused
        assert _status(f"{base}/api/status?token=wrong") == 403
        assert _status(f"{base}/api/status?token={token}") == 200
        # bound to the loopback address only
        listening = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True).stdout
        local = {line.split()[3] for line in listening.splitlines() if line.strip()}
        if local:  # ss is present
            assert local == {f"127.0.0.1:{port}"}
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)

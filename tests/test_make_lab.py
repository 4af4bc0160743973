"""`make lab` serves JupyterLab on 127.0.0.1 with token authentication on."""

import subprocess
import urllib.error
import urllib.request

import pytest

from browser import ROOT, running_lab


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


@pytest.mark.slow
def test_make_lab_binds_localhost_and_requires_a_token(tmp_path):
    with running_lab(tmp_path / "lab.log", ROOT / "notebooks") as (base, token):
        assert _status(f"{base}/api/status") == 403          # no token: refused
        assert _status(f"{base}/api/status?token=wrong") == 403
        assert _status(f"{base}/api/status?token={token}") == 200
        # bound to the loopback address only
        port = base.rsplit(":", 1)[1]
        listening = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True).stdout
        local = {line.split()[3] for line in listening.splitlines() if line.strip()}
        if local:  # ss is present
            assert local == {f"127.0.0.1:{port}"}

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


@pytest.mark.slow
def test_make_lab_serves_the_learners_workspace_and_keeps_their_edits(tmp_path):
    """issue 23: `make lab` opens the student edition, copied into the workspace; a second `make lab` keeps
    what the learner wrote there."""
    import json

    work = tmp_path / "work"

    def served_loop(base, token) -> str:
        url = f"{base}/api/contents/03_reinforce.ipynb?token={token}&content=1"
        with urllib.request.urlopen(url, timeout=30) as response:
            return json.dumps(json.loads(response.read())["content"])

    with running_lab(tmp_path / "lab1.log", None, make_args=(f"WORK={work}",)) as (base, token):
        text = served_loop(base, token)
        assert "raise NotImplementedError()" in text and "BEGIN SOLUTION" not in text
    notebook = work / "03_reinforce.ipynb"
    notebook.write_text(notebook.read_text().replace("raise NotImplementedError()", "return 'my own loop'", 1))
    with running_lab(tmp_path / "lab2.log", None, make_args=(f"WORK={work}",)) as (base, token):
        assert "my own loop" in served_loop(base, token)
    assert "your notebooks are kept" in (tmp_path / "lab2.log").read_text()

"""Analysts run the monthly notebook in JupyterLab themselves (README, "Notebooks"). This starts
`jupyter lab` headless on 127.0.0.1 with a random port and token, as installed by
scripts/setup.sh, opens notebooks/monthly_followup.py through the REST API (it must come back as
a notebook, parameters cell first, on the `provmon` kernel), starts that kernel through the
server as JupyterLab does, and executes every cell on it against the small warehouse, with the
month and tender area chosen the way the README says (PROVMON_MONTH, PROVMON_AREA)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import jupytext
import nbformat
import pytest
from jupyter_client import BlockingKernelClient
from papermill.iorw import load_notebook_node
from papermill.parameterize import parameterize_notebook

from pipeline.settings import Settings

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = "notebooks/monthly_followup.py"
MONTH, AREA = "2024-10", 2
START_SECONDS = 120
CELL_SECONDS = 300


class Server:
    def __init__(self, url: str, token: str, runtime: Path) -> None:
        self.url, self.token, self.runtime = url, token, runtime

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        request = urllib.request.Request(
            self.url + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                text = response.read().decode()
                return response.status, json.loads(text) if text else {}
        except urllib.error.HTTPError as err:
            return err.code, {"error": err.read().decode()[:500]}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    jupyter = Path(sys.executable).with_name("jupyter")
    if not shutil.which("jupyter-lab", path=str(jupyter.parent)):
        pytest.fail("jupyter lab is not installed in this environment: run bash scripts/setup.sh")
    home = tmp_path_factory.mktemp("jupyter")
    port, token = _free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        # nothing read from or written to the user's own Jupyter folders
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "PROVMON_MONTH": MONTH,
        "PROVMON_AREA": str(AREA),
    }
    log = (home / "server.log").open("w")
    proc = subprocess.Popen(
        [
            str(jupyter), "lab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={ROOT}",
            *(["--allow-root"] if os.geteuid() == 0 else []),  # CI runs as root
        ],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    srv = Server(f"http://127.0.0.1:{port}", token, home / "runtime")
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            if proc.poll() is not None:
                pytest.fail(f"jupyter lab exited: {(home / 'server.log').read_text()[-2000:]}")
            try:
                if srv.call("GET", "/api/status")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"jupyter lab did not answer within {START_SECONDS} s")
            time.sleep(0.5)
        yield srv
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_the_monthly_notebook_opens_as_a_notebook_with_parameters_first(server: Server) -> None:
    status, model = server.call("GET", f"/api/contents/{NOTEBOOK}")
    assert status == 200, model
    assert model["type"] == "notebook"
    nb = model["content"]
    assert nb["metadata"]["kernelspec"]["name"] == "provmon"
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert "parameters" in code[0]["metadata"].get("tags", [])
    assert "month =" in code[0]["source"] and "tender_area =" in code[0]["source"]
    status, specs = server.call("GET", "/api/kernelspecs")
    assert "provmon" in specs["kernelspecs"], "run bash scripts/setup.sh to install the kernel"
    # JupyterLab's default viewer for Python files is jupytext's notebook (setup.sh)
    status, plugin = server.call("GET", "/lab/api/settings/@jupyterlab/docmanager-extension:plugin")
    assert status == 200
    default = plugin["schema"]["properties"]["defaultViewers"]["default"]  # overrides.json lands here
    assert default["python"] == "Jupytext Notebook"


def test_the_monthly_notebook_runs_on_the_provmon_kernel_the_server_starts(
    server: Server, small_warehouse: Settings, tmp_path: Path
) -> None:
    status, session = server.call(
        "POST",
        "/api/sessions",
        {"path": NOTEBOOK, "type": "notebook", "name": "", "kernel": {"name": "provmon"}},
    )
    assert status == 201, session
    kernel = session["kernel"]
    assert kernel["name"] == "provmon"
    client = BlockingKernelClient()
    client.load_connection_file(str(server.runtime / f"kernel-{kernel['id']}.json"))
    # no heartbeat channel: a remote client's heartbeat counts as dead before its first beat
    client.start_channels(hb=False)
    try:
        client.wait_for_ready(timeout=START_SECONDS)
        # papermill's own loader (it gives every cell the metadata papermill expects)
        source = tmp_path / "monthly_followup.ipynb"
        nbformat.write(jupytext.read(ROOT / NOTEBOOK), source)
        # the paths of the small warehouse; month and area come from the server's environment
        nb = parameterize_notebook(
            load_notebook_node(str(source)),
            {
                "marts_dir": str(small_warehouse.marts_dir.resolve()),
                "warehouse": str(small_warehouse.warehouse.resolve()),
            },
        )
        html = []
        for cell in (c for c in nb.cells if c.cell_type == "code"):
            outputs: list[dict] = []
            reply = client.execute_interactive(cell.source, timeout=CELL_SECONDS, output_hook=outputs.append)
            errors = [m["content"] for m in outputs if m["msg_type"] == "error"]
            assert reply["content"]["status"] == "ok", (cell.source[:200], errors)
            html += [
                m["content"]["data"].get("text/html", "")
                for m in outputs
                if m["msg_type"] in ("display_data", "execute_result")
            ]
        shown = "\n".join(html)
        assert f"Udbudsområde {AREA}" in shown and "oktober 2024" in shown
        assert "Plotly.newPlot" in shown
    finally:
        client.stop_channels()
        server.call("DELETE", f"/api/sessions/{session['id']}")

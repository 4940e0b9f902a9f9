"""Run a notebook with papermill and export it as one self-contained HTML file, code hidden.

The reviewed source of a notebook is its jupytext `py:percent` file in notebooks/; the .ipynb
papermill needs is made from it on the fly, in a temporary folder, so no notebook with outputs
is ever written into the repository.

Speed: starting a kernel and importing pandas, Plotly and SciPy costs several seconds, more
than a notebook's own work, and a month has one notebook per area and per provider. So each
worker process keeps one kernel and hands it to papermill for notebook after notebook (papermill
passes `km` on to nbclient, which then neither starts nor stops it); a `%reset -f` cell put in
front of every notebook clears the namespace the previous one left, while the imported modules
stay loaded. A few workers run side by side."""

from __future__ import annotations

import logging
import multiprocessing
import shutil
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.cpr import scrub
from pipeline.errors import ProvmonError
from pipeline.files import atomic_write_text

log = logging.getLogger(__name__)

NOTEBOOKS_DIR = Path(__file__).resolve().parents[2] / "notebooks"
TEMPLATES_DIR = Path(__file__).with_name("templates")
TEMPLATE = "provmon"
REMOVE_TAG = "remove-cell"


class NotebookError(ProvmonError):
    """A report notebook failed; the message names the notebook, its parameters and the error."""


@dataclass(frozen=True)
class Job:
    """One notebook run: which notebook, with which parameters, exported where."""

    notebook: str  # file name in notebooks/, e.g. "monthly_followup.py"
    parameters: dict[str, Any]
    html: Path
    title: str
    kind: str  # "area" or "provider"
    key: str = ""  # the area number or provider id
    extra: dict[str, Any] = field(default_factory=dict)


def notebook_source(name: str) -> Path:
    path = NOTEBOOKS_DIR / name
    if not path.exists():
        raise NotebookError(f"the report notebook {path} is missing; restore it from git")
    return path


def exporter():
    """nbconvert's HTML exporter with our template: code cells and prompts hidden, Danish page
    language, nothing loaded from the network."""
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor

    html = HTMLExporter(
        extra_template_basedirs=[str(TEMPLATES_DIR)],
        template_name=TEMPLATE,
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        language_code="da",
    )
    # Notes for whoever edits the notebook (tagged remove-cell) stay out of the report.
    html.register_preprocessor(TagRemovePreprocessor(remove_cell_tags={REMOVE_TAG}), enabled=True)
    return html


def _failure(job: Job, exc: Exception) -> NotebookError:
    ename, evalue = getattr(exc, "ename", type(exc).__name__), getattr(exc, "evalue", str(exc))
    params = ", ".join(
        f"{k}={v!r}" for k, v in job.parameters.items() if k in ("month", "tender_area", "provider")
    )
    return NotebookError(
        scrub(f"notebook {job.notebook} ({params}) failed: {ename}: {evalue}".replace("\n", " "))
    )


_KERNELS: dict[str, Any] = {}  # kernel name -> this process's running KernelManager
_SOCKETS: dict[str, Path] = {}  # kernel name -> the folder of its IPC sockets
RESET = "%reset -f"


def _kernel(name: str) -> Any:
    """This process's kernel, started on first use and shut down when the process ends."""
    if name not in _KERNELS:
        from multiprocessing.util import Finalize

        from jupyter_client.manager import KernelManager

        # IPC sockets in a private folder: no TCP port for a local kernel.
        sockets = Path(tempfile.mkdtemp(prefix="provmon-kernel-"))
        km = KernelManager(kernel_name=name, transport="ipc", ip=str(sockets / "kernel"))
        km.start_kernel(cwd=tempfile.gettempdir())
        _KERNELS[name] = km
        _SOCKETS[name] = sockets
        Finalize(None, _stop_kernels, exitpriority=10)
    return _KERNELS[name]


def _stop_kernels() -> None:
    for name, km in list(_KERNELS.items()):
        try:
            km.shutdown_kernel(now=True)
        finally:
            _KERNELS.pop(name, None)
            shutil.rmtree(_SOCKETS.pop(name, ""), ignore_errors=True)


def _with_reset(notebook: Any) -> Any:
    """The notebook with a first cell that clears what an earlier notebook left in the kernel."""
    import nbformat

    cell = nbformat.v4.new_code_cell(RESET, metadata={"tags": ["provmon-reset"]})
    notebook.cells.insert(0, cell)
    return notebook


def _without_reset(notebook: Any) -> Any:
    notebook.cells = [
        c for c in notebook.cells if "provmon-reset" not in c.get("metadata", {}).get("tags", [])
    ]
    return notebook


def run_job(job: Job, kernel: str = "python3", timeout: int = 600) -> Path:
    """Execute one notebook with papermill on this process's kernel and write its HTML export;
    return the HTML path."""
    import jupytext
    import nbformat
    import papermill

    notebook = _with_reset(jupytext.read(notebook_source(job.notebook)))
    with tempfile.TemporaryDirectory(prefix="provmon-report-") as work:
        source, executed = Path(work) / "in.ipynb", Path(work) / "out.ipynb"
        nbformat.write(notebook, source)
        try:
            papermill.execute_notebook(
                str(source),
                str(executed),
                parameters=job.parameters,
                kernel_name=kernel,
                progress_bar=False,
                log_output=False,
                execution_timeout=timeout,
                request_save_on_cell_execute=False,
                km=_kernel(kernel),
            )
        except Exception as exc:  # papermill's error carries the notebook's own exception
            raise _failure(job, exc) from None
        result = _without_reset(nbformat.read(executed, as_version=4))
    result.metadata["title"] = job.title
    body, _ = exporter().from_notebook_node(result)
    atomic_write_text(job.html, body)
    return job.html


def run_jobs(
    jobs: Sequence[Job],
    workers: int,
    kernel: str,
    timeout: int,
    progress: Callable[[Job], None] | None = None,
) -> list[Path]:
    """Run the jobs `workers` at a time; stop at the first failure and raise it."""
    if not jobs:
        return []
    if workers <= 1 or len(jobs) == 1:
        done = []
        for job in jobs:
            done.append(run_job(job, kernel, timeout))
            if progress:
                progress(job)
        return done
    # spawn, not fork: the parent may hold threads (tqdm, DuckDB) that a fork would copy mid-state.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=context) as pool:
        futures: dict[Future[Path], Job] = {pool.submit(run_job, job, kernel, timeout): job for job in jobs}
        pending = set(futures)
        paths = []
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                error = future.exception()
                if error is not None:
                    for other in pending:
                        other.cancel()
                    raise error
                paths.append(future.result())
                if progress:
                    progress(futures[future])
    return paths

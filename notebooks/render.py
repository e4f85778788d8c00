"""Execute the EDA notebook on a data folder and export it as a self-contained HTML report.

    python notebooks/render.py --data-dir /path/to/pakdd2010 --output notebooks/eda.html [--timeout 600]

The notebook runs in a fresh ``python3`` kernel whose working directory is the repository root, with
``CREDITRISK_DATA_DIR`` set to the data folder and the repository root on ``PYTHONPATH`` (so ``ml``
imports). Plots are embedded in the HTML as data URIs. The stored notebook is never modified. If a cell
fails, the partial report is still written (so the failure can be read in context) and the command exits
with status 1 and the failing cell's error.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from nbconvert import HTMLExporter

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = REPO_ROOT / "notebooks" / "eda.ipynb"
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data" / "pakdd2010"
MODELLING_FILE = "PAKDD2010_Modeling_Data.txt"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class RenderError(RuntimeError):
    """The notebook could not be executed; the message names the cause."""


def _kernel_env(data_dir: str) -> dict[str, str]:
    env = os.environ.copy()
    env["CREDITRISK_DATA_DIR"] = data_dir
    paths = [str(REPO_ROOT), *(p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p)]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    env.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    return env


def _export(nb: nbformat.NotebookNode, output: Path) -> None:
    body, _ = HTMLExporter().from_notebook_node(nb)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(body, encoding="utf-8")


def render(data_dir: str | os.PathLike[str], output: str | os.PathLike[str], timeout: int = 600,
           notebook: str | os.PathLike[str] = NOTEBOOK) -> Path:
    """Run ``notebook`` on ``data_dir`` and write the HTML report to ``output``; returns its path.

    ``data_dir`` is a local folder (made absolute) or an ``s3://`` address. ``timeout`` is per cell,
    in seconds. Raises :class:`RenderError` if a cell fails (the partial report is written first).
    """
    data = os.fspath(data_dir)
    if not data.startswith("s3://"):
        data = str(Path(data).resolve())
    output = Path(output).resolve()
    nb = nbformat.read(os.fspath(notebook), as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(REPO_ROOT)}})
    try:
        client.execute(cwd=str(REPO_ROOT), env=_kernel_env(data))
    except CellExecutionError as exc:
        _export(nb, output)
        message = _ANSI.sub("", str(exc))
        raise RenderError(f"a notebook cell failed (partial report written to {output}):\n{message}") from exc
    except CellTimeoutError as exc:
        _export(nb, output)
        raise RenderError(f"a notebook cell ran longer than {timeout} s (partial report written to {output}): {exc}") from exc
    except DeadKernelError as exc:
        raise RenderError(f"the kernel died while running the notebook: {exc}") from exc
    _export(nb, output)
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Execute notebooks/eda.ipynb and export it to HTML.")
    parser.add_argument("--data-dir", default=os.environ.get("CREDITRISK_DATA_DIR", str(DEFAULT_DATA_DIR)),
                        help="folder (or s3:// prefix) with the PAKDD2010_*.txt files (default: $CREDITRISK_DATA_DIR "
                             "or ../shared/data/pakdd2010 next to the repository)")
    parser.add_argument("--output", default=str(REPO_ROOT / "notebooks" / "eda.html"), help="HTML file to write")
    parser.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell (default 600)")
    args = parser.parse_args(argv)
    if not args.data_dir.startswith("s3://") and not (Path(args.data_dir) / MODELLING_FILE).is_file():
        print(f"render.py: error: {MODELLING_FILE} not found in {args.data_dir}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    try:
        path = render(args.data_dir, args.output, args.timeout)
    except RenderError as exc:
        print(f"render.py: error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {path} in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

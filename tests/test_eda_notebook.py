"""The EDA notebook runs end to end on a small synthetic sample and renders to HTML with plots.

The real PAKDD files are not needed: the three files are generated with :mod:`ml.sample` in the
original TAB format. No database and no Django feature is used.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

from ml.data import to_original_format
from ml.sample import synthetic_applications

REPO_ROOT = Path(__file__).resolve().parent.parent
SECTIONS = (
    "1. Target rate",
    "2. Missing values and constant columns",
    "3. Distributions of key numeric columns",
    "4. Univariate predictive power: ROC AUC and information value",
    "5. Drift between the modelling, leaderboard and prediction files",
    "6. Summary for the analyst",
)
STDERR_OUTPUT = 'data-mime-type="application/vnd.jupyter.stderr"'  # how errors and warnings are rendered


def _render_module():
    spec = importlib.util.spec_from_file_location("eda_render", REPO_ROOT / "notebooks" / "render.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


render_module = _render_module()


def _write(path: Path, frame) -> None:
    path.write_text(to_original_format(frame), encoding="latin-1", newline="")


def _body(html: str) -> str:
    return html[html.find("<body") :]  # skip the stylesheet, which names the stderr class too


@pytest.fixture(scope="module")
def sample_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("pakdd2010")
    _write(folder / "PAKDD2010_Modeling_Data.txt", synthetic_applications(400, seed=1))
    _write(
        folder / "PAKDD2010_Leaderboard_Data.txt", synthetic_applications(200, seed=2, with_label=False, first_id=401)
    )
    _write(
        folder / "PAKDD2010_Prediction_Data.txt", synthetic_applications(200, seed=3, with_label=False, first_id=601)
    )
    return folder


def test_notebook_renders_on_a_synthetic_sample(sample_dir: Path, tmp_path: Path) -> None:
    output = render_module.render(sample_dir, tmp_path / "report" / "eda.html", timeout=120)

    assert output == (tmp_path / "report" / "eda.html").resolve()
    assert output.is_file()
    body = _body(output.read_text(encoding="utf-8"))
    assert STDERR_OUTPUT not in body, "a cell printed an error or a warning"
    assert "Traceback" not in body
    headings = [re.sub(r"\s+", " ", h).strip() for h in re.findall(r"<h2[^>]*>([^<]*)", body)]
    for section in SECTIONS:
        assert any(h.startswith(section) for h in headings), f"missing section {section!r} in {headings}"
    assert len(re.findall(r'<img[^>]+src="data:image/png;base64,', body)) >= 8
    assert str(sample_dir.resolve()) in body  # the kernel saw CREDITRISK_DATA_DIR
    assert "<strong>Only the modelling file is available" not in body


def test_notebook_skips_drift_without_the_unlabelled_files(sample_dir: Path, tmp_path: Path) -> None:
    only_modelling = tmp_path / "data"
    only_modelling.mkdir()
    (only_modelling / "PAKDD2010_Modeling_Data.txt").write_bytes(
        (sample_dir / "PAKDD2010_Modeling_Data.txt").read_bytes()
    )

    body = _body(render_module.render(only_modelling, tmp_path / "eda.html", timeout=120).read_text(encoding="utf-8"))

    assert STDERR_OUTPUT not in body
    assert "<strong>Only the modelling file is available" in body
    assert re.search(r'<img[^>]+src="data:image/png;base64,', body)


def test_a_failing_cell_is_reported(tmp_path: Path) -> None:
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    notebook = tmp_path / "broken.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("raise ValueError('no such column')")]), notebook)

    with pytest.raises(render_module.RenderError, match="no such column"):
        render_module.render(tmp_path, tmp_path / "broken.html", timeout=60, notebook=notebook)
    assert (tmp_path / "broken.html").is_file()  # the partial report is kept for reading

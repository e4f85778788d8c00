"""`make learning-curve`: CV AUC by training rows, on the training split's development rows only."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from ml.data import to_original_format
from ml.sample import synthetic_applications

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "learning_curve.py"


@pytest.fixture(scope="module")
def learning_curve():
    spec = importlib.util.spec_from_file_location("learning_curve", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_projection_follows_the_line_through_the_last_three_points(learning_curve):
    sizes = np.array([1_000, 2_000, 4_000, 8_000])
    auc = np.array([0.50, 0.60, 0.62, 0.64])  # +0.02 a doubling from 2,000 rows on
    assert learning_curve.projection(sizes, auc, 32_000) == pytest.approx(0.68)


def test_the_curve_is_measured_on_the_development_rows_and_learns(learning_curve, tmp_path, monkeypatch, capsys):
    data = tmp_path / "modelling.txt"
    data.write_text(to_original_format(synthetic_applications(1_000, seed=3)), encoding="latin-1", newline="")

    sizes, scores = learning_curve.measure(str(data), "logistic_regression", shares=(0.25, 1.0))

    # 1,000 rows, 200 held out, 5 folds: a fold trains on at most 640 development rows.
    assert sizes.tolist() == [160, 640]
    assert scores.shape == (2, 5)
    assert scores[1].mean() > 0.6  # the synthetic label depends on age, income and the state

    figure = tmp_path / "curve.png"
    monkeypatch.setattr(
        sys,
        "argv",
        ["learning_curve.py", "--data", str(data), "--candidate", "logistic_regression", "--figure", str(figure)],
    )
    learning_curve.main()
    assert figure.stat().st_size > 0
    assert "| 640 |" in capsys.readouterr().out


def test_a_missing_file_is_one_clear_line(learning_curve, tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["learning_curve.py", "--data", str(tmp_path / "absent.txt")])
    with pytest.raises(SystemExit, match="no such file: .*absent.txt"):
        learning_curve.main()

"""The demo page's gauge: over the range the development rows got, with the cut-off on it."""

from __future__ import annotations

import numpy as np
import pytest

from ml.registry import save_table
from scoring.gauge import gauge_drawing, gauge_for
from scoring.model_registry import points_scale

pytestmark = pytest.mark.django_db


def _keep_validation(version, trained):
    validation = trained["result"].validation
    name = f"{version.version}.validation.csv.gz"
    version.validation_path, version.validation_sha256 = name, save_table(validation, trained["folder"] / name)
    version.save()
    return validation


def test_gauge_spans_the_development_rows_points_with_the_cut_off_inside(active_version, trained):
    validation = _keep_validation(active_version, trained)
    gauge = gauge_for(active_version)
    points = points_scale().points(validation["probability_bad"])
    assert gauge.derived
    assert gauge.low <= np.percentile(points, 1) and np.percentile(points, 99) <= gauge.high
    assert gauge.high - gauge.low < (points.max() - points.min()) + 12  # not the 300-850 scale
    assert gauge.low < gauge.cutoff < gauge.high
    assert gauge.cutoff == round(float(points_scale().points(active_version.threshold)))


def test_a_version_without_development_figures_gets_the_full_scale(active_version):
    gauge = gauge_for(active_version)
    assert not gauge.derived and (gauge.low, gauge.high) == (300, 850)


def test_a_development_file_that_fails_its_checksum_is_not_used(active_version, trained):
    _keep_validation(active_version, trained)
    active_version.validation_sha256 = "0" * 64
    assert not gauge_for(active_version).derived


def test_the_needle_and_the_cut_off_are_drawn_where_they_fall(active_version, trained):
    _keep_validation(active_version, trained)
    gauge = gauge_for(active_version)
    low = gauge_drawing(gauge, gauge.low - 40)  # off the gauge: pinned to its end
    high = gauge_drawing(gauge, gauge.high)
    assert low["needle"]["x"] < 100 and low["needle"]["y"] == pytest.approx(100)
    assert high["needle"]["x"] > 100 and high["needle"]["y"] == pytest.approx(100)
    tick = gauge_drawing(gauge, gauge.cutoff)["tick"]
    share = gauge.share(gauge.cutoff)
    assert (tick["x1"] < 100) == (share < 0.5)

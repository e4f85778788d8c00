"""Progress bars: a count, a rate and the time left on a terminal; nothing where output is not one."""

import io
import re

from ml.progress import progress_bar
from ml.training import TrainingConfig, planned_fits, train


def test_a_bar_shows_the_count_the_rate_and_the_time_left():
    out = io.StringIO()
    with progress_bar(4, "training", unit="fit", enabled=True, file=out) as bar:
        bar.update(1)
        bar.update(3)
    text = out.getvalue()
    assert "training: 100%" in text and "4/4" in text
    assert re.search(r"\[\d\d:\d\d<\d\d:\d\d, +[\d.]+(fit/s|s/fit)\]", text), text  # elapsed<left, rate


def test_no_bar_is_drawn_where_the_output_is_not_a_terminal():
    out = io.StringIO()
    with progress_bar(4, "training", enabled=None, file=out) as bar:
        bar.update(4)
    assert out.getvalue() == ""


def test_training_without_variants_draws_its_bar_on_stderr_through_every_planned_fit(sample_frame, capsys):
    config = TrainingConfig(
        candidates=("logistic_regression",), n_splits=3, random_state=0, importance_rows=200, variants=False
    )
    messages: list[str] = []
    result = train(sample_frame, config, progress=messages.append, show_progress=True)
    captured = capsys.readouterr()
    total = planned_fits(config)
    assert total == 3 + 1 + 2  # the candidate's folds, the final fit (its sigmoid reuses the folds'), two checks
    assert "training: 100%" in captured.err and f"{total}/{total}" in captured.err
    assert captured.out == ""  # the bar leaves stdout, and the progress messages, alone
    assert any("compiled scorer equals the pipeline" in message for message in messages)
    assert list(result.comparison["candidate"]) == ["logistic_regression"]  # no variant of it

"""``manage.py score_csv`` on the bad-file corpus: exit status 1, the message on stderr, no output written."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from django.core.management import CommandError, call_command, execute_from_command_line

from ml.tests.bad_files import BAD_FILES, BadFile, as_original, original_rows, with_value

REPO = Path(__file__).resolve().parents[2]


def _manage(*args: str) -> int:
    """``manage.py`` as the shell runs it, in this process: its exit status."""
    try:
        execute_from_command_line(["manage.py", *args])
    except SystemExit as exit_:
        return int(exit_.code or 0)
    return 0


# No database in these tests: a bad file must be refused before the command touches it.
@pytest.mark.parametrize("bad", BAD_FILES, ids=lambda bad: bad.name)
def test_bad_file_exits_1_with_the_message_and_writes_nothing(bad: BadFile, tmp_path, capsys):
    source = tmp_path / "in" / bad.name
    source.parent.mkdir()
    source.write_bytes(bad.content)
    output = tmp_path / "out" / "scores.csv"
    output.parent.mkdir()
    assert _manage("score_csv", str(source), str(output)) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith(f"CommandError: {source}: ") and re.search(bad.message, captured.err)
    assert "Traceback" not in captured.err and captured.out == ""
    assert list(output.parent.iterdir()) == []


def test_a_real_manage_py_process_exits_1_with_the_message_on_stderr(tmp_path):
    source = tmp_path / "bad.txt"
    source.write_text(as_original(with_value(3, "PERSONAL_MONTHLY_INCOME", "-50")), encoding="latin-1")
    output = tmp_path / "scores.csv"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "creditrisk.settings.test"}
    done = subprocess.run(
        [sys.executable, "manage.py", "score_csv", str(source), str(output)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "line 3, column PERSONAL_MONTHLY_INCOME: '-50' is outside 0 to 1e+09" in done.stderr
    assert "Traceback" not in done.stderr and not output.exists()


@pytest.mark.django_db
def test_a_failed_write_leaves_no_half_file_and_the_previous_output_intact(active_version, tmp_path, monkeypatch):
    source = tmp_path / "in.txt"
    source.write_text(as_original(original_rows()), encoding="latin-1", newline="")
    output = tmp_path / "scores.csv"
    output.write_text("the previous run's scores\n")

    def disk_full(header, rows):
        yield "ID_CLIENT,probability_bad\n1,0."  # part of a file, then the disk is full
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("scoring.management.commands.score_csv.csv_rows", disk_full)
    with pytest.raises(CommandError, match=r"cannot write .*scores.csv: No space left on device"):
        call_command("score_csv", str(source), str(output))
    assert output.read_text() == "the previous run's scores\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt", "scores.csv"]


@pytest.mark.django_db
def test_an_output_folder_that_does_not_exist_is_a_clear_error(active_version, tmp_path):
    source = tmp_path / "in.txt"
    source.write_text(as_original(original_rows()), encoding="latin-1", newline="")
    with pytest.raises(CommandError, match=r"cannot write .*/missing/scores.csv: No such file or directory"):
        call_command("score_csv", str(source), str(tmp_path / "missing" / "scores.csv"))


@pytest.mark.django_db
def test_skip_invalid_with_no_valid_row_fails_instead_of_writing_an_empty_file(active_version, tmp_path):
    source = tmp_path / "in.txt"
    rows = original_rows()
    for row in rows:
        row[-3] = "-1"  # AGE
    source.write_text(as_original(rows), encoding="latin-1", newline="")
    with pytest.raises(CommandError, match=r"none of the 5 rows is valid\n  line 1, column AGE: '-1' is outside"):
        call_command("score_csv", str(source), str(tmp_path / "scores.csv"), "--skip-invalid")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt"]


@pytest.mark.django_db
def test_the_errors_file_holds_nothing_a_spreadsheet_would_run(active_version, tmp_path):
    rows = with_value(2, "AGE", "=1+1")
    rows[3][2] = "@SUM(A1)"  # PAYMENT_DAY
    rows[4][-3] = "-5"  # AGE
    source = tmp_path / "in.txt"
    source.write_text(as_original(rows), encoding="latin-1", newline="")
    call_command("score_csv", str(source), str(tmp_path / "scores.csv"), "--skip-invalid")
    assert len(pd.read_csv(tmp_path / "scores.csv")) == 2
    with (tmp_path / "scores.csv.errors.csv").open(newline="") as handle:
        errors = list(csv.reader(handle))
    assert [row[:2] for row in errors] == [["line", "column"], ["2", "AGE"], ["4", "PAYMENT_DAY"], ["5", "AGE"]]
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in errors for cell in row)

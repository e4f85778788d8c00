"""Both ways ``ml`` reads a file (whole, and as a bulk job in a head and a streaming pass) agree on every file."""

from __future__ import annotations

import pytest

from ml.tests.bad_files import BAD_FILES
from ml.tests.format_corpus import FILES, bulk_verdict, whole_file_verdict

REFUSED_FROM = list(FILES).index("empty")  # the corpus lists the accepted files first


@pytest.mark.parametrize("name", list(FILES))
def test_the_whole_file_and_the_bulk_readers_give_the_same_verdict_and_message(name, tmp_path):
    whole, bulk = whole_file_verdict(FILES[name]), bulk_verdict(FILES[name], tmp_path)
    assert whole == bulk
    assert whole.accepted == (list(FILES).index(name) < REFUSED_FROM), whole.message


def test_a_refusal_is_one_line_a_person_reads(tmp_path):
    for name, content in list(FILES.items())[REFUSED_FROM:]:
        message = whole_file_verdict(content).message
        assert message and "\n" not in message and len(message) < 500, (name, message)


@pytest.mark.parametrize("bad", BAD_FILES, ids=[b.name for b in BAD_FILES])
def test_the_loaders_corpus_gets_the_same_verdict_from_both_readers(bad, tmp_path):
    """The corpus of bad files the loader is tested on (unlabelled): the same verdict from both readers too."""
    assert whole_file_verdict(bad.content) == bulk_verdict(bad.content, tmp_path)

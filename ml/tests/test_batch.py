"""Indexing a bulk file: rows are non-blank lines, chunks span rows only, bounds stop the pass at once."""

from __future__ import annotations

import gzip

import pytest

from ml.batch import BLANK_RUN_BYTES, IndexLimits, index_lines, inspect_head, parse_chunk, read_span
from ml.data import to_original_format
from ml.file_formats import DataFormatError
from ml.sample import synthetic_applications


def _rows(n: int) -> list[bytes]:
    return to_original_format(synthetic_applications(n, seed=3)).encode("latin-1").splitlines(keepends=True)


def _index(tmp_path, data: bytes, chunk_rows: int = 3, **options):
    compressed = options.pop("compressed", False)
    source = tmp_path / "upload"
    source.write_bytes(gzip.compress(data, compresslevel=1) if compressed else data)
    layout = inspect_head(data[:65536], compressed=compressed)
    plain = tmp_path / "plain.txt" if compressed else None
    return index_lines(source, layout, chunk_rows, plain, **options), layout, plain or source


@pytest.mark.parametrize("compressed", [False, True])
def test_blank_lines_are_not_rows_and_no_chunk_reads_a_long_run_of_them(tmp_path, compressed):
    rows = _rows(7)
    blank_run = b"\r\n" * (BLANK_RUN_BYTES // 2 + 10)
    data = b"".join(
        [
            rows[0],
            b"\n\n",
            rows[1],
            rows[2],
            blank_run,
            rows[3],
            b"  \n",
            rows[4],
            rows[5],
            rows[6],
            blank_run,
            blank_run,
        ]
    )
    index, layout, source = _index(tmp_path, data, compressed=compressed)
    assert index.rows == 7
    spans = index.chunks
    assert [s.byte_end - s.byte_start < 10_000 for s in spans] == [True] * len(spans)  # no run is read
    # Chunks of 3 rows, cut again at the run: rows 1-3 | 4-6 | 7 (each row's number is its line in the file).
    lines = []
    for span in spans:
        parsed = parse_chunk(read_span(source, span), span.first_line, layout)
        assert not parsed.problems
        lines.append(list(parsed.lines))
    run_lines = len(blank_run) // 2
    assert lines == [[1, 4, 5], [6 + run_lines, 8 + run_lines, 9 + run_lines], [10 + run_lines]]
    assert spans[0].first_line == 1 and spans[0].line_count == 5  # the two short blanks lie inside, harmless


def test_a_file_over_the_decompressed_limit_stops_at_the_limit(tmp_path):
    data = b"".join(_rows(3)) + b"\n" * 5_000_000
    with pytest.raises(DataFormatError, match="larger than the limit of 1,000,000 bytes once decompressed"):
        _index(tmp_path, data, compressed=True, limits=IndexLimits(max_bytes=1_000_000))
    assert (tmp_path / "plain.txt").stat().st_size <= 1_000_000  # nothing written past the limit


def test_a_file_over_the_row_limit_is_refused_with_the_limit(tmp_path):
    data = b"".join(_rows(11))
    with pytest.raises(DataFormatError, match="more than 10 applications, the limit of one job"):
        _index(tmp_path, data, limits=IndexLimits(max_rows=10))
    assert _index(tmp_path, b"".join(_rows(10)), limits=IndexLimits(max_rows=10))[0].rows == 10


def test_the_check_is_called_as_the_file_streams_and_can_stop_it(tmp_path):
    data = b"".join(_rows(3)) + b"\n" * 3_500_000
    seen: list[int] = []
    _index(tmp_path, data, check=seen.append)
    assert len(seen) == 3 and seen == sorted(seen)

    class Stop(Exception):
        pass

    def stop(position: int) -> None:
        raise Stop(position)

    with pytest.raises(Stop):
        _index(tmp_path, data, compressed=True, check=stop)


def test_a_line_longer_than_a_block_is_one_row_read_in_one_pass(tmp_path):
    rows = _rows(4)
    data = b"".join([rows[0], b"x" * 5_000_000 + b"\r\n", rows[1], rows[2], rows[3]])
    index, layout, source = _index(tmp_path, data, chunk_rows=2)
    assert index.rows == 5 and [(s.first_line, s.line_count) for s in index.chunks] == [(1, 2), (3, 2), (5, 1)]
    parsed = parse_chunk(read_span(source, index.chunks[0]), 1, layout)
    assert list(parsed.lines) == [1] and [p.line for p in parsed.problems] == [2]  # the long line: a row error

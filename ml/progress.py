"""Progress bars with a rate and an ETA, on stderr, for the long steps run from a terminal.

tqdm draws them. A bar is drawn only where stderr is a terminal (``enabled=None``): in logs, pipes
and tests a command's output stays what it was. The bar is redrawn every second even when no step
ends, so elapsed time and the estimate keep moving through a long step (the calibration's fits).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

from tqdm import tqdm

REDRAW_SECONDS = 1.0


@contextmanager
def progress_bar(
    total: float | None,
    description: str,
    *,
    unit: str = "step",
    enabled: bool | None = None,
    file: IO[str] | None = None,
) -> Iterator[tqdm]:
    """A bar of ``total`` ``unit`` (None: not known yet, set ``bar.total`` when it is); ``enabled=None``
    draws it only if ``file`` (stderr) is a terminal.

    The rate is the average since the start (``smoothing=0``): steps of a training run differ in
    length, and the average gives the steadier estimate of the time left.
    """
    # tqdm's disable=None: off where the stream is not a terminal.
    disable = None if enabled is None else not enabled
    bar = tqdm(
        total=total,
        desc=description,
        unit=unit,
        file=file or sys.stderr,
        disable=disable,
        smoothing=0,
        dynamic_ncols=True,
    )
    stop = threading.Event()
    redraw = threading.Thread(target=_redraw, args=(bar, stop), daemon=True, name="progress-bar")
    if not bar.disable:
        redraw.start()
    try:
        yield bar
    finally:
        stop.set()
        if redraw.is_alive():
            redraw.join()
        bar.close()


def _redraw(bar: tqdm, stop: threading.Event) -> None:
    while not stop.wait(REDRAW_SECONDS):
        bar.refresh()


@contextmanager
def lines_beside_bars() -> Iterator[None]:
    """Lines printed inside go above the bars on the terminal, which are drawn again below them."""
    with tqdm.external_write_mode(file=sys.stdout):
        yield

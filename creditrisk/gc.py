"""Garbage collection for long-lived server processes: what is loaded once is never scanned again.

A full collection walks every container object the process holds: Django's app registry, the URL
and serializer machinery, and the compiled scorer's vocabulary (tens of thousands of strings). Under
load those collections stalled every request in flight for a few hundred milliseconds at a time, the
slowest 1% of the API benchmark. ``gc.freeze()`` moves what exists once a process is ready (and once
a model is loaded) out of the collector's reach; what requests allocate is still collected as usual.
https://docs.python.org/3/library/gc.html#gc.freeze
"""

from __future__ import annotations

import gc


def freeze_loaded_objects() -> None:
    """Collect what is garbage now, then keep everything still alive out of later collections."""
    gc.collect()
    gc.freeze()

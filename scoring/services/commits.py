"""When a transaction's COMMIT waits for the disk, and how to wait for the disk afterwards.

PostgreSQL writes one write-ahead log and flushes it in order: a synchronous commit flushes every
record written before its own, whichever transaction wrote it. So a transaction may commit without
waiting for the disk (asynchronous commit, for that transaction only) wherever something synchronous
always follows it before anyone relies on it, or wherever losing it in a crash leaves a state that
the service repairs by itself. Each caller says which in its own docstring.
"""

from __future__ import annotations

from django.db import connection


def commit_without_waiting_for_the_disk() -> None:
    """This transaction's COMMIT returns once its WAL is written, before it is flushed (PostgreSQL)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def flush_committed_work_to_disk() -> None:
    """Return once everything committed so far, asynchronously too, is on disk; no lock is held meanwhile.

    A transaction waits for the disk at COMMIT only if it wrote to the log and took a transaction
    id: this one writes the smallest record that does both, a transactional logical-decoding message
    (prefix ``creditrisk.flush``, empty; a subscriber that does not ask for messages never sees it),
    and its flush covers every record written before it. Inside an outer transaction (a test's)
    nothing commits here, so nothing is done."""
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute(FLUSH)


FLUSH = "SELECT pg_logical_emit_message(true, 'creditrisk.flush', '')"

"""kombu's Redis transport with two fixes: an acknowledgement that times out must not stall the
worker, and a Redis restart must not kill it.

With late acknowledgement and a prefetch of one, a worker takes its next message only once the last
one is acknowledged. kombu's Redis QoS forgets a message locally only after Redis confirmed the
acknowledgement; when Redis does not answer within ``socket_timeout`` (paused, failing over, a
half-open connection), the acknowledgement raises, the message is still counted as unacknowledged,
and the worker never asks Redis for another message again, for ever, although the connection comes
back (kombu 5.7; scoring/tests/faults/test_broker_pause.py shows it).

Here the message is forgotten locally either way. It stays in Redis's index of unacknowledged
messages, so Redis delivers it again after the visibility timeout; every task is idempotent (its
row records what was done), so that second delivery changes nothing. The error is still raised, and
Celery logs it.

When Redis goes away, Celery's consumer first ``collect()``s the broken connection, which detaches
the transport from it (``transport.client = None``), then closes it. A channel whose first close
(inside ``collect()``) did not complete against the dead server is closed a second time; that close
puts the messages the worker still holds back into Redis, which needs the detached
connection's address, and kombu 5.7 raised ``AttributeError: 'NoneType' object has no attribute
'hostname'`` from ``_connparams``: not a connection error, so Celery took it for an unrecoverable
one and the worker exited (with more than one process it nearly always holds a message and is
waiting in BRPOP for the next one). The acknowledgement of a task that finishes after the restart
goes through the same old channel and fails the same way. Here a channel detached from its
connection raises the connection error it is: the close is ignored as for any broker error, the
worker reconnects, and the late acknowledgement is logged as failed and forgotten locally (above).
The messages are still in Redis when it kept them (append-only file): they come back after the
visibility timeout, and the tasks are idempotent. scoring/tests/faults/test_worker_survives_redis_restart.py
shows it. Used through ``CELERY_BROKER_TRANSPORT`` for ``redis://`` brokers.
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis, virtual
from redis.exceptions import ConnectionError as RedisConnectionError


class QoS(redis.QoS):
    def ack(self, delivery_tag: Any) -> None:
        try:
            super().ack(delivery_tag)
        except self.channel.connection_errors:  # type: ignore[attr-defined]  # set in Channel.__init__; not in celery-types' stub
            virtual.QoS.ack(self, delivery_tag)  # the local bookkeeping the failed call skipped
            raise

    def reject(self, delivery_tag: Any, requeue: bool = False) -> None:
        try:
            super().reject(delivery_tag, requeue=requeue)
        except self.channel.connection_errors:  # type: ignore[attr-defined]  # set in Channel.__init__; not in celery-types' stub
            virtual.QoS.ack(self, delivery_tag)
            raise


class Channel(redis.Channel):
    QoS = QoS

    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        if self.connection is None or self.connection.client is None:
            raise RedisConnectionError("this broker channel's connection was closed (Redis went away)")
        return super()._connparams(asynchronous=asynchronous)  # type: ignore[misc]  # private: not in celery-types' stub


class Transport(redis.Transport):
    Channel = Channel

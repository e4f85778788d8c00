"""kombu's Redis transport with one fix: an acknowledgement that times out must not stall the worker.

With late acknowledgement and a prefetch of one, a worker takes its next message only once the last
one is acknowledged. kombu's Redis QoS forgets a message locally only after Redis confirmed the
acknowledgement; when Redis does not answer within ``socket_timeout`` (paused, failing over, a
half-open connection), the acknowledgement raises, the message is still counted as unacknowledged,
and the worker never asks Redis for another message again, for ever, although the connection comes
back (kombu 5.7; scoring/tests/faults/test_broker_pause.py shows it).

Here the message is forgotten locally either way. It stays in Redis's index of unacknowledged
messages, so Redis delivers it again after the visibility timeout; every task is idempotent (its
row records what was done), so that second delivery changes nothing. The error is still raised, and
Celery logs it. Used through ``CELERY_BROKER_TRANSPORT`` for ``redis://`` brokers.
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis, virtual


class QoS(redis.QoS):
    def ack(self, delivery_tag: Any) -> None:
        try:
            super().ack(delivery_tag)
        except self.channel.connection_errors:
            virtual.QoS.ack(self, delivery_tag)  # the local bookkeeping the failed call skipped
            raise

    def reject(self, delivery_tag: Any, requeue: bool = False) -> None:
        try:
            super().reject(delivery_tag, requeue=requeue)
        except self.channel.connection_errors:
            virtual.QoS.ack(self, delivery_tag)
            raise


class Channel(redis.Channel):
    QoS = QoS


class Transport(redis.Transport):
    Channel = Channel

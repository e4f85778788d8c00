"""What the broker holds: the oldest message waiting in each queue, and the messages workers hold.

The sweep (scoring/services/sweep.py) asks this before dispatching again a row that has waited
long for its message: the message may simply be waiting behind a long queue, or be held by a worker
that is about to start it. Only Redis is read (a few commands, whatever the queue's length): kombu
pushes a message at the head of its queue's list and workers pop from the tail, so the tail is the
oldest message waiting; every message carries the time it was published (creditrisk/celery.py);
messages delivered and not yet acknowledged sit in the ``unacked`` hash, with their delivery time
in ``unacked_index``. Another broker (the filesystem transport of ``make run``) is not read:
``None``, and the sweep falls back to the age of the row alone.
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import redis

from creditrisk.celery import PUBLISHED_HEADER
from creditrisk.celery import app as celery_app

# kombu's Redis transport keys (kombu.transport.redis.Channel.unacked_key and unacked_index_key).
UNACKED, UNACKED_INDEX = "unacked", "unacked_index"
# A row's dispatch time is stamped a moment before its message is published (inside the same
# transaction or just after its commit), and web and worker clocks may differ a little: a row
# dispatched up to this long before the oldest waiting message may still be waiting behind it.
PUBLISH_LAG_SECONDS = 30.0


@dataclass(frozen=True)
class BrokerContents:
    """The published time of the oldest message waiting in each queue read (None: the queue is
    empty; -inf: its oldest message does not say), and when each held task was delivered, by the
    first argument of the task (a request's id, a chunk's id)."""

    oldest_waiting: dict[str, float | None]
    held: dict[str, float] = field(default_factory=dict)

    def may_be_waiting(self, queue: str, dispatched_at: datetime) -> bool:
        """Whether a message dispatched at ``dispatched_at`` may still be waiting in ``queue``."""
        if queue not in self.oldest_waiting:
            return True  # not read: take it that it waits
        oldest = self.oldest_waiting[queue]
        if oldest is None or oldest == -math.inf:
            # Empty; or its oldest message does not say when it was published (one left by another
            # version or tool): that cannot tell, so the row's age alone decides, as with an unread broker.
            return False
        return dispatched_at.timestamp() >= oldest - PUBLISH_LAG_SECONDS

    def held_since(self, key: Any) -> float | None:
        """When a worker was handed the message whose first argument is ``key``; None if none holds it."""
        return self.held.get(str(key))


def broker_contents(queues: list[str]) -> BrokerContents | None:
    """Read what the Redis broker holds for ``queues``; None for any other broker or when Redis fails."""
    url = celery_app.conf.broker_url or ""
    if not url.startswith(("redis://", "rediss://")):
        return None
    timeout = float((celery_app.conf.broker_transport_options or {}).get("socket_timeout", 2.0))
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        with client.pipeline(transaction=False) as pipe:
            for queue in queues:
                pipe.lindex(queue, -1)
            pipe.hgetall(UNACKED)
            pipe.zrange(UNACKED_INDEX, 0, -1, withscores=True)
            *tails, unacked, index = pipe.execute()
    except redis.RedisError:
        return None
    finally:
        client.close()
    delivered = {_text(tag): score for tag, score in index}
    held: dict[str, float] = {}
    for tag, entry in unacked.items():
        key = _first_argument(json.loads(entry)[0])
        if key is not None:
            held[key] = delivered.get(_text(tag), 0.0)
    return BrokerContents(oldest_waiting={q: _published(t) for q, t in zip(queues, tails, strict=True)}, held=held)


def _published(raw: bytes | None) -> float | None:
    if raw is None:
        return None
    try:
        return float(json.loads(raw)["headers"][PUBLISHED_HEADER])
    except (ValueError, KeyError, TypeError):
        return -math.inf


def _first_argument(payload: dict[str, Any]) -> str | None:
    """The task's first positional argument, from a Celery (protocol 2, JSON) message."""
    try:
        body = payload["body"]
        if payload.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        args = json.loads(body)[0]
        return str(args[0]) if args else None
    except (ValueError, KeyError, TypeError, IndexError):
        return None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value

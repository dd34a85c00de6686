"""Message brokers behind one interface, picked by URL: ``memory://`` (in-process) or ``redis://``.

A broker carries two kinds of traffic:

* plain publish/subscribe on named channels (job wake-ups, cache invalidation);
* the *feed*: messages appended to a topic get a per-topic sequence number, are kept in a
  bounded per-topic history, and are published to every subscriber of the feed. Clients
  resume a topic from the last number they saw, or are told to reload when the history no
  longer reaches back that far.
"""

from __future__ import annotations

from kefu.platform.backends.base import Broker, FeedItem, Subscription


def create_broker(url: str, *, prefix: str = "kefu", history: int = 500, history_ttl: int = 86400) -> Broker:
    if url.startswith("memory://"):
        from kefu.platform.backends.memory import MemoryBroker

        return MemoryBroker(url, history=history)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from kefu.platform.backends.redis import RedisBroker

        return RedisBroker(url, prefix=prefix, history=history, history_ttl=history_ttl)
    raise ValueError(f"unsupported broker URL scheme: {url.split(':', 1)[0]!r} (use memory:// or redis://)")


__all__ = ["Broker", "FeedItem", "Subscription", "create_broker"]

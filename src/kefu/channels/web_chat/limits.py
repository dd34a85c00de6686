"""How fast one visitor may send: a token bucket per contact.

The buckets live in this process's memory (one per kernel). With several nodes a visitor
could send up to the limit on each node; that is acceptable for a flood guard, which is
all this is (abuse at scale is stopped in front of kefu).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from kefu.platform.kernel import Kernel

SEND_BURST = 10  # messages (and uploads) a visitor may send at once…
SEND_WINDOW_SECONDS = 10.0  # …refilled evenly over this many seconds
MAX_BUCKETS = 50_000
SERVICE_KEY = "web_chat.send_limiter"


@dataclass
class TokenBucket:
    capacity: float
    refill_per_second: float
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[int, tuple[float, float]] = field(default_factory=dict)

    def take(self, key: int) -> int | None:
        """Spend one token for ``key``; None when allowed, else the seconds to wait."""
        now = self.clock()
        tokens, stamp = self._buckets.get(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - stamp) * self.refill_per_second)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            return max(1, math.ceil((1 - tokens) / self.refill_per_second))
        if len(self._buckets) >= MAX_BUCKETS and key not in self._buckets:
            self._forget_full(now)
        self._buckets[key] = (tokens - 1, now)
        return None

    def _forget_full(self, now: float) -> None:
        refill = self.capacity / self.refill_per_second
        for key, (_, stamp) in list(self._buckets.items()):
            if now - stamp >= refill:
                del self._buckets[key]


def send_limiter(kernel: Kernel) -> TokenBucket:
    """The kernel's bucket set (created on first use, so each app, and each test, has its own)."""
    found = kernel.services.get(SERVICE_KEY)
    if not isinstance(found, TokenBucket):
        found = TokenBucket(SEND_BURST, SEND_BURST / SEND_WINDOW_SECONDS)
        kernel.services[SERVICE_KEY] = found
    return found

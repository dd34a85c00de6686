"""Domain events: recorded inside services, dispatched only after the commit.

An event is a frozen dataclass named in the past tense (``UserCreated``). Services call
``record_event(session, event)``; the write scope of :class:`~kefu.platform.db.Database`
hands committed events to :class:`EventDispatcher`, which calls the in-process handlers
subscribed to the event's type. One of those handlers is the realtime hub, which sends the
event to its topics (the sender decides the audience). Handlers are idempotent and must
not fail the request: their errors are logged, and durable work becomes a job.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import date, datetime
from types import MappingProxyType
from typing import Any, ClassVar, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from kefu.platform.db import record_on_session

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Event:
    """Base of every domain event. Subclasses set ``name`` (``feature.thing_happened``)."""

    name: ClassVar[str] = "event"

    def topics(self) -> Sequence[str]:
        """Realtime topics that receive this event; none by default (server-side only)."""
        return ()

    def payload(self) -> dict[str, Any]:
        """What realtime followers get: every field but those marked :data:`INTERNAL`."""
        return {
            f.name: _jsonable(getattr(self, f.name))
            for f in dataclasses.fields(self)
            if not f.metadata.get(_INTERNAL_KEY)
        }


# Metadata of a field for in-process handlers only, never published to realtime topics:
# ``assignee_id: int | None = field(default=None, metadata=INTERNAL)``. Handlers on the
# committing node then decide without reading the database again.
_INTERNAL_KEY = "kefu.internal"
INTERNAL: Mapping[str, bool] = MappingProxyType({_INTERNAL_KEY: True})


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def record_event(session: AsyncSession, event: Event) -> None:
    """Record ``event`` on the session's transaction: dispatched after commit, dropped on rollback."""
    record_on_session(session, event)


E = TypeVar("E", bound=Event)
Handler = Callable[[Any], Awaitable[None]]


class EventDispatcher:
    """Calls the handlers subscribed to an event's type (or any of its base classes)."""

    def __init__(self) -> None:
        self._handlers: dict[type[Event], list[Handler]] = defaultdict(list)

    def subscribe(self, event_type: type[E], handler: Callable[[E], Awaitable[None]]) -> None:
        self._handlers[event_type].append(handler)

    def subscribe_all(self, handler: Callable[[Event], Awaitable[None]]) -> None:
        self._handlers[Event].append(handler)

    def handlers_for(self, event_type: type[Event]) -> list[Handler]:
        found: list[Handler] = []
        for klass in event_type.__mro__:
            found.extend(self._handlers.get(klass, ()))
        return found

    async def dispatch(self, events: Sequence[Any]) -> None:
        for event in events:
            for handler in self.handlers_for(type(event)):
                try:
                    await handler(event)
                except Exception:
                    log.exception("event handler %s failed on %s", _name(handler), type(event).__name__)


def _name(handler: Handler) -> str:
    return getattr(handler, "__qualname__", repr(handler))

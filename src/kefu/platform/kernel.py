"""The kernel: the infrastructure one process shares, built from settings.

Features never build infrastructure themselves; routes reach the kernel through
:func:`get_kernel`, jobs through their :class:`~kefu.platform.jobs.JobContext`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from kefu.platform.backends import Broker, create_broker
from kefu.platform.db import Database
from kefu.platform.events import EventDispatcher
from kefu.platform.jobs import JobRegistry, JobRunner, register_kernel_jobs, wire_wakeups
from kefu.platform.observability import Metrics
from kefu.platform.realtime import Authenticator, RealtimeHub, TopicAuthorizer
from kefu.platform.web import Templates
from kefu.settings import Settings

log = logging.getLogger(__name__)

KERNEL_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


@dataclass
class Kernel:
    settings: Settings
    db: Database
    broker: Broker
    dispatcher: EventDispatcher
    jobs: JobRegistry
    runner: JobRunner
    metrics: Metrics
    templates: Templates
    hub: RealtimeHub | None = None
    services: dict[str, Any] = field(default_factory=dict)
    _started: bool = False

    @classmethod
    def build(cls, settings: Settings, *, template_dirs: Iterable[Path] = ()) -> Kernel:
        settings.ensure_data_dir()
        db = Database(settings.db_url, pool_size=settings.db_pool_size)
        broker = create_broker(settings.broker_url, prefix=settings.redis_prefix)
        dispatcher = EventDispatcher()
        db.set_event_sink(dispatcher.dispatch)
        registry = JobRegistry()
        register_kernel_jobs(registry)
        services: dict[str, Any] = {"settings": settings}
        runner = JobRunner(
            db,
            broker,
            registry,
            concurrency=settings.job_concurrency,
            poll_seconds=settings.job_poll_seconds,
            services=services,
        )
        wire_wakeups(dispatcher, broker)
        metrics = Metrics()
        templates = Templates(
            [KERNEL_TEMPLATES, *template_dirs], secret=settings.secret, secure_cookies=settings.https
        )
        return cls(settings, db, broker, dispatcher, registry, runner, metrics, templates, services=services)

    def enable_realtime(self, authenticate: Authenticator, authorize: TopicAuthorizer) -> RealtimeHub:
        self.hub = RealtimeHub(
            self.broker, authenticate=authenticate, authorize=authorize, metrics=self.metrics
        )
        self.dispatcher.subscribe_all(self.hub.on_event)
        return self.hub

    async def start(self, *, run_jobs: bool) -> None:
        await self.broker.connect()
        if self.hub is not None:
            await self.hub.start()
        if run_jobs:
            await self.runner.start()
        self._started = True

    async def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        await self.runner.stop()
        if self.hub is not None:
            await self.hub.stop()
        await self.broker.close()
        await self.db.dispose()


def get_kernel(conn: HTTPConnection) -> Kernel:
    kernel: Kernel = conn.app.state.kernel
    return kernel


def _kernel_dependency(request: Request) -> Kernel:
    return get_kernel(request)


KernelDep = Annotated[Kernel, Depends(_kernel_dependency)]

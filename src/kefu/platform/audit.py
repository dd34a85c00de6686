"""The audit log: who did what to which thing, written in the same transaction as the change.

Services call :func:`record_audit` next to the write they audit, so an entry exists
exactly when the change committed. Entries are never updated or deleted by the product.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from kefu.platform.db import Base, utcnow
from kefu.platform.observability import current_request_id


@dataclass(frozen=True)
class Actor:
    """Who performs a change: a user (through a session or a token), the system, or nobody known."""

    kind: str  # user | token | system | anonymous
    label: str
    user_id: int | None = None
    ip: str | None = None

    @classmethod
    def system(cls, label: str = "system") -> Actor:
        return cls(kind="system", label=label)

    @classmethod
    def anonymous(cls, ip: str | None) -> Actor:
        return cls(kind="anonymous", label="anonymous", ip=ip)


class AuditEntry(Base):
    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_target", "target_type", "target_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int | None] = mapped_column(index=True)
    actor_label: Mapped[str] = mapped_column(String(200))
    ip: Mapped[str | None] = mapped_column(String(45))
    action: Mapped[str] = mapped_column(String(64), index=True)
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(64))
    target_label: Mapped[str] = mapped_column(String(200), default="")
    details: Mapped[dict[str, Any]]
    request_id: Mapped[str | None] = mapped_column(String(64))


def record_audit(
    session: AsyncSession,
    actor: Actor,
    action: str,
    *,
    target_type: str,
    target_id: int | str | None = None,
    target_label: str = "",
    **details: Any,
) -> None:
    session.add(
        AuditEntry(
            at=utcnow(),
            actor_kind=actor.kind,
            actor_id=actor.user_id,
            actor_label=actor.label[:200],
            ip=actor.ip,
            action=action,
            target_type=target_type,
            target_id=None if target_id is None else str(target_id),
            target_label=target_label[:200],
            details=details,
            request_id=current_request_id(),
        )
    )


@dataclass(frozen=True)
class AuditFilter:
    action: str | None = None  # exact, or a prefix ending in "." ("user.")
    actor_id: int | None = None
    target_type: str | None = None
    target_id: str | None = None
    text: str | None = None
    since: datetime | None = None
    until: datetime | None = None


async def list_audit_entries(
    session: AsyncSession, filters: AuditFilter, *, limit: int = 50, before_id: int | None = None
) -> Sequence[AuditEntry]:
    stmt = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if filters.action:
        if filters.action.endswith("."):
            stmt = stmt.where(AuditEntry.action.startswith(filters.action, autoescape=True))
        else:
            stmt = stmt.where(AuditEntry.action == filters.action)
    if filters.actor_id is not None:
        stmt = stmt.where(AuditEntry.actor_id == filters.actor_id)
    if filters.target_type:
        stmt = stmt.where(AuditEntry.target_type == filters.target_type)
    if filters.target_id:
        stmt = stmt.where(AuditEntry.target_id == filters.target_id)
    if filters.text:
        pattern = filters.text.strip()
        stmt = stmt.where(
            or_(
                AuditEntry.actor_label.contains(pattern, autoescape=True),
                AuditEntry.target_label.contains(pattern, autoescape=True),
                AuditEntry.ip.contains(pattern, autoescape=True),
            )
        )
    if filters.since is not None:
        stmt = stmt.where(AuditEntry.at >= filters.since)
    if filters.until is not None:
        stmt = stmt.where(AuditEntry.at < filters.until)
    if before_id is not None:
        stmt = stmt.where(AuditEntry.id < before_id)
    return (await session.scalars(stmt)).all()


async def audit_actions(session: AsyncSession) -> list[str]:
    """The distinct actions recorded so far (for the filter drop-down)."""
    rows = await session.scalars(select(AuditEntry.action).distinct().order_by(AuditEntry.action))
    return list(rows)

"""SLA policies (sla_policies), the clocks of each conversation (conversation_sla), and the
SLA state the inbox shows (conversations.sla_due_at, conversations.sla_state).

Revision ID: 9dfe1e327511
Revises: 5f5ba55decbf
Create Date: 2026-11-23 19:42:55.105541
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import kefu.platform.db

revision: str = "9dfe1e327511"
down_revision: str | None = "5f5ba55decbf"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sla_policies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("tiers", sa.JSON(), nullable=False),
        sa.Column("priorities", sa.JSON(), nullable=False),
        sa.Column("category_ids", sa.JSON(), nullable=False),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.Column("first_response_minutes", sa.Integer(), nullable=True),
        sa.Column("next_response_minutes", sa.Integer(), nullable=True),
        sa.Column("resolution_minutes", sa.Integer(), nullable=True),
        sa.Column("calendar_id", sa.Integer(), nullable=True),
        sa.Column("warn_percent", sa.Integer(), nullable=False),
        sa.Column("escalation", sa.JSON(), nullable=False),
        sa.Column("created_at", kefu.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", kefu.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["calendar_id"],
            ["calendars.id"],
            name=op.f("fk_sla_policies_calendar_id_calendars"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_policies")),
        sa.UniqueConstraint("name", name=op.f("uq_sla_policies_name")),
    )
    op.create_table(
        "conversation_sla",
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("policy_id", sa.Integer(), nullable=False),
        sa.Column("started_at", kefu.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("paused_since", kefu.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("paused_seconds", sa.Integer(), nullable=False),
        sa.Column("next_check_at", kefu.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("first_response_due_at", kefu.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("first_response_warned_at", kefu.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("first_response_breached_at", kefu.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("first_response_met_at", kefu.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("next_response_started_at", kefu.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("next_response_paused_base", sa.Integer(), nullable=False),
        sa.Column("next_response_due_at", kefu.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("next_response_warned_at", kefu.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("next_response_breached_at", kefu.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("next_response_met_at", kefu.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolution_due_at", kefu.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolution_warned_at", kefu.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolution_breached_at", kefu.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolution_met_at", kefu.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", kefu.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_conversation_sla_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["policy_id"],
            ["sla_policies.id"],
            name=op.f("fk_conversation_sla_policy_id_sla_policies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("conversation_id", name=op.f("pk_conversation_sla")),
    )
    with op.batch_alter_table("conversation_sla", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_conversation_sla_next_check_at"), ["next_check_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_conversation_sla_policy_id"), ["policy_id"], unique=False)

    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("sla_due_at", kefu.platform.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("sla_state", sa.String(length=10), server_default="", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_column("sla_state")
        batch_op.drop_column("sla_due_at")

    with op.batch_alter_table("conversation_sla", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conversation_sla_policy_id"))
        batch_op.drop_index(batch_op.f("ix_conversation_sla_next_check_at"))

    op.drop_table("conversation_sla")
    op.drop_table("sla_policies")

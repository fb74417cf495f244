"""Initial handoff queue schema: tickets, their audit trail, notes, staff messages, staff users.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""
import sqlalchemy as sa
from alembic import op

from bot.handoff.models import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _ticket_child(name: str, *columns: sa.Column) -> None:
    op.create_table(
        name,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("ticket_id", sa.Integer(),
                  sa.ForeignKey("handoff_tickets.id", ondelete="CASCADE"), nullable=False),
        *columns,
    )
    op.create_index(f"ix_{name}_ticket_id", name, ["ticket_id"])


def upgrade() -> None:
    op.create_table(
        "handoff_tickets",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("conversation_id", sa.String(255), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("sender_id", sa.String(255), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("priority", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("first_message", sa.Text(), nullable=False),
        sa.Column("last_user_message", sa.Text(), nullable=False),
        sa.Column("message_count", sa.Integer(), nullable=False),
        sa.Column("contact_details", sa.Text()),
        sa.Column("contact_consent", sa.Boolean()),
        sa.Column("assigned_to", sa.String(320)),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("claimed_at", UTCDateTime()),
        sa.Column("resolved_at", UTCDateTime()),
        sa.CheckConstraint("reason IN ('personal_advice', 'request_human', 'emergency', "
                           "'repeated_fallback')", name="ck_reason"),
        sa.CheckConstraint("priority IN ('urgent', 'normal')", name="ck_priority"),
        sa.CheckConstraint("status IN ('open', 'claimed', 'resolved')", name="ck_status"),
    )
    op.create_index("ix_handoff_tickets_conversation_id", "handoff_tickets", ["conversation_id"])
    op.create_index("ix_handoff_tickets_status_priority_created", "handoff_tickets",
                    ["status", "priority", "created_at"])
    active = sa.text("status != 'resolved'")
    op.create_index("uq_handoff_tickets_active_conversation", "handoff_tickets",
                    ["conversation_id"], unique=True, sqlite_where=active, postgresql_where=active)

    _ticket_child(
        "handoff_ticket_events",
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(320), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("request_id", sa.String(64), unique=True),
    )
    _ticket_child(
        "handoff_notes",
        sa.Column("author", sa.String(320), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    _ticket_child(
        "handoff_staff_messages",
        sa.Column("conversation_id", sa.String(255), nullable=False),
        sa.Column("author", sa.String(320), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("delivered_at", UTCDateTime()),
    )
    op.create_index("ix_handoff_staff_messages_pending", "handoff_staff_messages",
                    ["conversation_id", "delivered_at"])

    op.create_table(
        "handoff_staff_users",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("email", sa.String(320), nullable=False, unique=True),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("role IN ('staff', 'admin')", name="ck_role"),
    )

    counter = op.create_table(
        "handoff_change_counter",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("value", sa.BigInteger(), nullable=False),
    )
    op.bulk_insert(counter, [{"id": 1, "value": 0}])


def downgrade() -> None:
    for table in ("handoff_change_counter", "handoff_staff_users", "handoff_staff_messages",
                  "handoff_notes", "handoff_ticket_events", "handoff_tickets"):
        op.drop_table(table)

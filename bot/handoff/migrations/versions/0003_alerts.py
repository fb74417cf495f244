"""On-call alert records: one row per ticket, alert kind and destination, with its outcome.

Revision ID: 0003_alerts
Revises: 0002 (staff message handover)
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

from bot.handoff.models import UTCDateTime

revision = "0003_alerts"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "handoff_alerts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("ticket_id", sa.Integer(),
                  sa.ForeignKey("handoff_tickets.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("destination", sa.String(16), nullable=False),
        sa.Column("target", sa.String(500), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_attempt_at", UTCDateTime()),
        sa.Column("next_attempt_at", UTCDateTime()),
        sa.Column("sent_at", UTCDateTime()),
        sa.Column("last_error", sa.String(500)),
        sa.CheckConstraint("kind IN ('urgent_new', 'urgent_raised', 'out_of_hours_new')",
                           name="ck_alert_kind"),
        sa.CheckConstraint("status IN ('pending', 'sent', 'failed', 'cancelled')",
                           name="ck_alert_status"),
        sa.UniqueConstraint("ticket_id", "kind", "destination", name="uq_handoff_alerts_once"),
    )
    op.create_index("ix_handoff_alerts_ticket_id", "handoff_alerts", ["ticket_id"])
    op.create_index("ix_handoff_alerts_due", "handoff_alerts", ["status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_table("handoff_alerts")

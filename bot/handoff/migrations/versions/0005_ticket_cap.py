"""Index for the new-ticket cap, which counts the "opened" events of the last minute.

Revision ID: 0005_ticket_cap
Revises: 0004_staff_sessions
Create Date: 2026-12-01
"""
from alembic import op

revision = "0005_ticket_cap"
down_revision = "0004_staff_sessions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_handoff_ticket_events_kind_at", "handoff_ticket_events", ["kind", "at"])


def downgrade() -> None:
    op.drop_index("ix_handoff_ticket_events_kind_at", "handoff_ticket_events")

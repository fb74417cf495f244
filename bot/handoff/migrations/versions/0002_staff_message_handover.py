"""Staff messages get `handed_over_at`: who is delivering a message right now.

A sender (a REST request, a push attempt) claims a conversation's pending messages by setting it
in one UPDATE, so two concurrent deliveries never send the same message; `delivered_at` is set
only once the message went out. A claim older than the store's lease is void (its holder died).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""
import sqlalchemy as sa
from alembic import op

from bot.handoff.models import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("handoff_staff_messages") as table:
        table.add_column(sa.Column("handed_over_at", UTCDateTime()))


def downgrade() -> None:
    with op.batch_alter_table("handoff_staff_messages") as table:
        table.drop_column("handed_over_at")

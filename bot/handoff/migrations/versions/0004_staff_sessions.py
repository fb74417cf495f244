"""Console sessions ended by logout, so a copied cookie stays refused after a restart.

Revision ID: 0004_staff_sessions
Revises: 0003_alerts
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

from bot.handoff.models import UTCDateTime

revision = "0004_staff_sessions"
down_revision = "0003_alerts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "handoff_revoked_sessions",
        sa.Column("nonce", sa.String(64), primary_key=True),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_handoff_revoked_sessions_expires_at", "handoff_revoked_sessions",
                    ["expires_at"])


def downgrade() -> None:
    op.drop_table("handoff_revoked_sessions")

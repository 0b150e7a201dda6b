"""Who submitted each job (the caller's opaque actor id), so a submitter reads only their own jobs' reports.

MERGER: the ``ui`` branch's ``0002_review_profiles.py`` adds the same ``jobs.actor`` column (and its review and
custom-profile tables) under the same revision id: keep that one and delete this file.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("actor", sa.String(128), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("actor")

"""Who submitted each job (the caller's opaque actor id), so a submitter reads only their own jobs' reports.

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
    # Jobs from before this revision have no recorded submitter: only reviewers see them in the API.
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("submitted_by", sa.String(160), nullable=False, server_default=""))
        batch.create_index("ix_jobs_submitted_by", ["submitted_by"])


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_index("ix_jobs_submitted_by")
        batch.drop_column("submitted_by")

"""Alembic environment: the store hands over its open connection (``config.attributes["connection"]``)."""
from __future__ import annotations

from alembic import context

from pixelguard.jobstore.models import Base

connection = context.config.attributes["connection"]
# render_as_batch: SQLite alters tables by copying them; batch mode writes later migrations so they run on both.
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()

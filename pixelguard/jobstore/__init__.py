"""The job store: jobs, each object's state and the profile versions jobs used, in a SQL database.

SQLAlchemy 2 over SQLite by default (``jobs.sqlite3`` beside the key file); any SQLAlchemy URL works
(``PIXELGUARD_DATABASE_URL``), so PostgreSQL through psycopg 3 is a setting, not a code change. The schema is
owned by the Alembic migrations in ``migrations/``, applied whenever a store is opened.

Written by the embedded runner (``pixelguard deid``, one row per object as it finishes) and by ``pixelguard
api`` (jobs and their accepted objects at submit); read by the API and ``pixelguard job status``. It holds
ids, codes, counts and our own words only: never a file name, a path of an input or a value from an object.
"""
from .store import JobExists, JobNotFound, JobStore, JobView, ObjectView, StoreConfigError

__all__ = ["JobExists", "JobNotFound", "JobStore", "JobView", "ObjectView", "StoreConfigError"]

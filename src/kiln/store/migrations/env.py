"""Alembic environment: runs on the connection kiln hands over (or the configured URL)."""

from alembic import context
from sqlalchemy import create_engine

from kiln.store._tables import Base

config = context.config
connection = config.attributes.get("connection")
if connection is not None:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    context.run_migrations()
else:
    engine = create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=Base.metadata, render_as_batch=True)
        context.run_migrations()

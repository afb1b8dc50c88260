"""Database: typed SQLAlchemy 2 models and sessions. Alembic migrations are the only source of the schema."""

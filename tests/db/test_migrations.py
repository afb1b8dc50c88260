"""Alembic migrations are the only source of the schema: they must agree with the models."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import migrations
from coachline.db.models import Base


def _diff(url: str) -> list[object]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def test_models_match_migrations_on_postgres(pg_empty_url: str) -> None:
    migrations.upgrade(pg_empty_url)
    assert _diff(pg_empty_url) == []


def test_models_match_migrations_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    migrations.upgrade(url)
    assert _diff(url) == []


def test_the_check_catches_a_model_the_migrations_lack(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    migrations.upgrade(url)
    extra = sa.Table("not_migrated", Base.metadata, sa.Column("id", sa.Integer, primary_key=True))
    try:
        assert any("not_migrated" in str(d) for d in _diff(url))
    finally:
        Base.metadata.remove(extra)


@pytest.mark.parametrize("revision", ["base"])
def test_downgrade_to_base_and_up_again(tmp_path: Path, revision: str) -> None:
    from alembic import command

    url = f"sqlite:///{tmp_path / 'm.db'}"
    migrations.upgrade(url)
    command.downgrade(migrations.alembic_config(url), revision)
    engine = sa.create_engine(url)
    assert set(sa.inspect(engine).get_table_names()) == {"alembic_version"}
    engine.dispose()
    migrations.upgrade(url)
    assert _diff(url) == []

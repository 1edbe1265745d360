"""``channelsync store copy``: a SQLite store moved into PostgreSQL from the command line."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from channelsync.cli import cli
from channelsync.clock import FakeClock
from channelsync.engine.catalogue import import_catalogue, parse_catalogue
from channelsync.store import open_store

pytestmark = pytest.mark.postgres


def sqlite_store(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    with open_store(url) as store:
        catalogue = "sku,title,price,currency,quantity\nMUG,Mug,20.00,CNY,10\nCUP,Cup,5.00,CNY,3\n"
        import_catalogue(store, parse_catalogue(catalogue, "csv"), now=FakeClock().now())
    return url


def config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "channelsync.toml"
    path.write_text(f'[store]\nurl = "{url}"\n', encoding="utf-8")
    return path


def test_a_sqlite_store_moves_into_postgresql_once(tmp_path: Path, postgres_url: str) -> None:
    source = sqlite_store(tmp_path)
    target = config(tmp_path, postgres_url)
    first = CliRunner().invoke(cli, ["store", "copy", "--from", source, "--config", str(target)])
    assert first.exit_code == 0, first.output
    assert "skus: 2" in first.output
    with open_store(postgres_url) as store, store.transaction() as session:
        assert sorted(s.merchant_code for s in session.skus()) == ["CUP", "MUG"]
    again = CliRunner().invoke(cli, ["store", "copy", "--from", source, "--config", str(target)])
    assert again.exit_code == 2
    assert "is not empty: table" in again.output


def test_a_missing_source_file_is_refused_and_created_nowhere(
    tmp_path: Path, postgres_url: str
) -> None:
    missing = tmp_path / "nowhere.db"
    result = CliRunner().invoke(
        cli,
        [
            "store",
            "copy",
            "--from",
            f"sqlite:///{missing}",
            "--config",
            str(config(tmp_path, postgres_url)),
        ],
    )
    assert result.exit_code == 2
    assert f"no store at {missing}" in result.output
    assert not missing.exists()

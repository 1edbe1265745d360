from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from channelsync.cli import cli


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "channelsync.toml"
    path.write_text("", encoding="utf-8")
    return path


def test_import_then_export(tmp_path: Path, config: Path) -> None:
    source = tmp_path / "cat.csv"
    source.write_text("sku,title,price,currency,quantity\nA,Mug,9.90,CNY,4\n", encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(cli, ["catalogue", "import", str(source), "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "imported 1 SKUs (1 new), 1 stock changes" in result.output
    result = runner.invoke(
        cli, ["catalogue", "export", "--format", "json", "--config", str(config)]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == [
        {"sku": "A", "title": "Mug", "price": "9.90", "currency": "CNY", "quantity": "4"}
    ]


def test_a_bad_file_exits_2_and_changes_nothing(tmp_path: Path, config: Path) -> None:
    source = tmp_path / "cat.csv"
    source.write_text(
        "sku,title,price,currency,quantity\nA,Mug,9.90,CNY,4\nB,Mug,free,CNY,1\n", encoding="utf-8"
    )
    runner = CliRunner()
    result = runner.invoke(cli, ["catalogue", "import", str(source), "--config", str(config)])
    assert result.exit_code == 2
    assert "row 3, field 'price'" in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(cli, ["catalogue", "export", "--config", str(config)])
    assert result.output == "sku,title,price,currency,quantity,cost,barcode,warehouse,product\n"

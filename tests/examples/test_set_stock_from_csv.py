from __future__ import annotations

import csv

import pytest

from .support import CHANNEL_TYPES, EXAMPLES


def example_counts() -> dict[str, int]:
    with (EXAMPLES / "stock.csv").open(encoding="utf-8") as handle:
        return {row["sku"]: int(row["quantity"]) for row in csv.DictReader(handle)}


@pytest.mark.parametrize("channel_type", CHANNEL_TYPES)
def test_the_example_csv_sets_stock_on_the_fake(
    channel_type, examples, started_fakes, clock, capsys
):
    script = examples("set_stock_from_csv")

    assert script.main(["--channel", channel_type], clock=clock) == 0

    (fake,) = started_fakes
    stock = fake.store.stock_by_merchant_code()
    counts = example_counts()
    assert {code: stock[code] for code in counts} == counts
    untouched = {code: qty for code, qty in stock.items() if code not in counts}
    assert set(untouched.values()) == {20}  # the demo catalogue's count, unchanged
    out = capsys.readouterr().out
    for code in counts:
        assert f"{code} " in out


def test_stock_goes_in_the_channels_batch_size(examples, started_fakes, clock):
    script = examples("set_stock_from_csv")

    assert script.main(["--channel", "jd"], clock=clock) == 0

    (fake,) = started_fakes
    # JD sets one SKU per call.
    assert fake.calls["jingdong.stock.write.updateSkuStock"] == len(example_counts())


def test_an_unknown_merchant_code_is_named_and_the_rest_are_sent(
    examples, served_shop, clock, capsys, tmp_path
):
    shop = served_shop("pinduoduo")
    counts = tmp_path / "counts.csv"
    counts.write_text("sku,quantity\nCS-0002-2,3\nNO-SUCH-SKU,5\n", encoding="utf-8")
    script = examples("set_stock_from_csv")

    code = script.main(
        [str(counts), "--config", str(shop.config), "--channel", "pinduoduo"], clock=clock
    )

    out = capsys.readouterr().out
    assert code == 1
    assert "NO-SUCH-SKU" in out
    assert "no listing with this merchant code" in out
    assert shop.fake.store.stock_by_merchant_code()["CS-0002-2"] == 3


def test_a_file_with_bad_rows_is_refused_whole(
    examples, served_shop, started_fakes, clock, capsys, tmp_path
):
    shop = served_shop("tmall")
    before = shop.fake.store.stock_by_merchant_code()
    counts = tmp_path / "counts.csv"
    counts.write_text(
        "sku,quantity\nCS-0001-1,4\n,3\nCS-0001-2,-1\nCS-0001-1,2\nCS-0002-1,lots\n",
        encoding="utf-8",
    )
    script = examples("set_stock_from_csv")

    code = script.main([str(counts), "--config", str(shop.config)], clock=clock)

    err = capsys.readouterr().err
    assert code == 2
    assert f"{counts}: nothing was sent" in err
    assert "row 3, field 'sku': empty merchant code" in err
    assert "row 4, field 'quantity': '-1' is not a whole number >= 0" in err
    assert "row 5, field 'sku': 'CS-0001-1' appears twice" in err
    assert "row 6, field 'quantity': 'lots'" in err
    assert shop.fake.calls.total() == 0
    assert shop.fake.store.stock_by_merchant_code() == before
    assert started_fakes == []


def test_a_file_without_the_columns_is_refused(examples, started_fakes, clock, capsys, tmp_path):
    counts = tmp_path / "counts.csv"
    counts.write_text("code,qty\nCS-0001-1,4\n", encoding="utf-8")
    script = examples("set_stock_from_csv")

    assert script.main([str(counts)], clock=clock) == 2

    err = capsys.readouterr().err
    assert "row 1, field 'sku': missing column" in err
    assert "row 1, field 'quantity': missing column" in err
    assert started_fakes == []

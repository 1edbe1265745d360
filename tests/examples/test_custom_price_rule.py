from __future__ import annotations

import tomllib
from decimal import Decimal
from importlib.metadata import EntryPoint

import pytest

from channelsync import Money, build_plugin_manager
from channelsync.plugins import PriceContext

from .support import PRICE_RULE


def context(channel: str, channel_type: str, price: Money) -> PriceContext:
    return PriceContext(
        channel=channel, channel_type=channel_type, merchant_code="CS-0001-1", catalogue_price=price
    )


@pytest.mark.parametrize(
    ("amount", "expected"),
    [("49.90", "52.99"), ("59.00", "61.99"), ("100.00", "105.99"), ("12.30", "12.99")],
)
def test_the_rule_marks_up_and_rounds_up_to_99(examples, amount, expected):
    rule = examples("channelsync_price_rule").MarkupRule("tmall")

    assert rule.price_for(Money.of(amount, "CNY")) == Money.of(expected, "CNY")


def test_registered_directly_it_prices_its_channel_only(examples):
    rule = examples("channelsync_price_rule").MarkupRule("tmall-flagship")
    host = build_plugin_manager(autoload=False, extra_plugins=[rule])
    price = Money.of("49.90", "CNY")

    assert host.adjust_price(context("tmall-flagship", "tmall", price), price) == Money.of(
        "52.99", "CNY"
    )
    # Another Tmall shop and another marketplace keep the catalogue price.
    assert host.adjust_price(context("tmall-outlet", "tmall", price), price) == price
    assert host.adjust_price(context("jd-pop", "jd", price), price) == price


def test_the_entry_point_registers_a_tmall_rule(examples):
    project = tomllib.loads((PRICE_RULE / "pyproject.toml").read_text(encoding="utf-8"))
    (name, target), *more = project["project"]["entry-points"]["channelsync"].items()
    assert not more
    entry_point = EntryPoint(name=name, value=target, group="channelsync")

    plugin = entry_point.load()
    host = build_plugin_manager(autoload=False, extra_plugins=[plugin])

    assert name == "example-price-rule"
    assert type(plugin).__name__ == "MarkupRule"
    assert host.failures == []
    price = Money.of("54.90", "CNY")
    assert host.adjust_price(context("tmall-main", "tmall", price), price) == Money.of(
        "57.99", "CNY"
    )
    wheel = project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    assert wheel == [target.split(":")[0]]


def test_an_ending_of_a_whole_unit_is_refused(examples):
    with pytest.raises(ValueError, match="ending must be a fraction"):
        examples("channelsync_price_rule").MarkupRule("tmall", ending=Decimal(1))


def planned(out: str) -> dict[str, tuple[str, str]]:
    rows = [line.split() for line in out.splitlines() if "->" in line]
    return {row[0]: (row[1], row[4]) for row in rows}


def test_the_engine_plans_prices_through_the_rule(examples, started_fakes, clock, capsys):
    script = examples("plan_prices")

    assert script.main(["--channel", "tmall"], clock=clock) == 0

    out = capsys.readouterr().out
    assert "tmall-example: 5 listing(s) bound" in out
    assert planned(out) == {
        "CS-0001-1": ("49.90", "52.99"),
        "CS-0001-2": ("54.90", "57.99"),
        "CS-0002-1": ("59.00", "61.99"),
        "CS-0002-2": ("100.00", "105.99"),
        "CS-0003-1": ("12.30", "12.99"),
    }
    (fake,) = started_fakes
    # Planning sends nothing: the shop's prices are the demo catalogue's.
    assert {
        sku.price for _item, sku in fake.store.iter_skus() if sku.merchant_code == "CS-0001-1"
    } == {Decimal("49.90")}


def test_a_channel_the_rule_does_not_name_keeps_catalogue_prices(examples, clock, capsys):
    script = examples("plan_prices")

    assert script.main(["--channel", "jd", "--rule-for", "tmall"], clock=clock) == 0

    prices = planned(capsys.readouterr().out)
    assert len(prices) == 5
    assert all(catalogue == plan for catalogue, plan in prices.values())


def test_a_bad_catalogue_plans_nothing(examples, started_fakes, clock, capsys, tmp_path):
    catalogue = tmp_path / "catalogue.csv"
    catalogue.write_text("sku,title,price,currency,quantity\nA,Tee,free,CNY,1\n", "utf-8")
    script = examples("plan_prices")

    assert script.main(["--catalogue", str(catalogue)], clock=clock) == 2

    err = capsys.readouterr().err
    assert "nothing was planned" in err
    assert "row 2, field 'price'" in err
    assert started_fakes == []

from __future__ import annotations

import pytest

from .support import CHANNEL_TYPES


@pytest.mark.parametrize("channel_type", CHANNEL_TYPES)
def test_ships_a_new_order_on_the_fake(channel_type, examples, started_fakes, clock, capsys):
    script = examples("confirm_shipment")

    assert script.main(["--channel", channel_type], clock=clock) == 0

    (fake,) = started_fakes
    (order,) = fake.store.orders.values()
    (shipment,) = order.shipments
    tracking = "1Z999AA10123456784" if channel_type == "amazon" else "SF1234567890123"
    assert shipment.tracking_number == tracking
    assert f"order {order.order_id} shipped" in capsys.readouterr().out


def test_shipping_twice_records_one_shipment(examples, served_shop, clock, capsys):
    shop = served_shop("jd")
    (order,) = shop.fake.generate_orders(1)
    args = ["--config", str(shop.config), "--channel", "jd", "--order", order.order_id]
    args += ["--carrier", "顺丰", "--tracking", "SF7654321098765"]
    script = examples("confirm_shipment")

    assert script.main(args, clock=clock) == 0
    assert script.main(args, clock=clock) == 0

    (shipment,) = shop.fake.store.orders[order.order_id].shipments
    assert shipment.tracking_number == "SF7654321098765"
    assert shipment.carrier_code == "467"  # JD's code for SF Express
    first, second = capsys.readouterr().out.splitlines()
    assert f"order {order.order_id} shipped with SF Express (467)" in first
    assert f"order {order.order_id} was already shipped" in second


def test_a_real_shop_needs_order_carrier_and_tracking(examples, served_shop, clock, capsys):
    shop = served_shop("tmall")
    script = examples("confirm_shipment")

    code = script.main(["--config", str(shop.config), "--carrier", "sf"], clock=clock)

    assert code == 2
    assert "needs --order, --carrier and --tracking" in capsys.readouterr().err
    assert shop.fake.calls.total() == 0


def test_an_unknown_carrier_is_a_usage_error(examples, started_fakes, clock, capsys):
    script = examples("confirm_shipment")

    with pytest.raises(SystemExit) as exit_info:
        script.main(["--carrier", "pigeon"], clock=clock)

    assert exit_info.value.code == 2
    assert "unknown carrier 'pigeon'" in capsys.readouterr().err
    assert started_fakes == []


def test_a_bad_tracking_number_ships_nothing(examples, served_shop, clock, capsys):
    shop = served_shop("tmall")
    (order,) = shop.fake.generate_orders(1)
    args = ["--config", str(shop.config), "--order", order.order_id, "--carrier", "sf"]

    code = examples("confirm_shipment").main([*args, "--tracking", "SF 123"], clock=clock)

    assert code == 2
    assert "contains whitespace" in capsys.readouterr().err
    assert shop.fake.store.orders[order.order_id].shipments == []

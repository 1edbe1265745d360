from __future__ import annotations

from datetime import timedelta

import pytest
from channelsync_jd.fake import DEMO_CREDENTIALS

from channelsync.clock import CHINA_STANDARD_TIME

from .support import CHANNEL_TYPES, backdate


@pytest.mark.parametrize("channel_type", CHANNEL_TYPES)
def test_prints_the_orders_buyers_placed_today_on_the_fake(
    channel_type, examples, started_fakes, clock, capsys
):
    script = examples("pull_todays_orders")

    assert script.main(["--channel", channel_type, "--place", "3"], clock=clock) == 0

    (fake,) = started_fakes
    out = capsys.readouterr().out
    placed = fake.store.orders
    assert len(placed) == 3
    assert out.startswith(f"3 order(s) placed on {channel_type}-example")
    for order_id, order in placed.items():
        assert order_id in out
        for line in order.lines:
            assert line.merchant_code in out


def test_a_configured_shop_shows_todays_orders_only(examples, served_shop, clock, capsys):
    shop = served_shop("tmall")
    today, yesterday, other = shop.fake.generate_orders(3)
    now = clock.now()
    midnight = now.astimezone(CHINA_STANDARD_TIME).replace(hour=0, minute=0, second=0)
    ten_minutes_ago = now - timedelta(minutes=10)
    backdate(shop.fake, [today, other], created=ten_minutes_ago, modified=ten_minutes_ago)
    # Placed before midnight in Beijing, changed today: read by the pull, not placed today.
    backdate(
        shop.fake, [yesterday], created=midnight - timedelta(minutes=30), modified=ten_minutes_ago
    )
    script = examples("pull_todays_orders")

    code = script.main(["--config", str(shop.config), "--channel", "tmall"], clock=clock)

    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("2 order(s) placed on tmall-shop on 2026-03-02 (GMT+8)")
    assert today.order_id in out
    assert other.order_id in out
    assert yesterday.order_id not in out
    total = f"{today.total:.2f} CNY"
    assert total in out
    assert len(shop.fake.store.orders) == 3  # the configured shop was only read


def test_no_secret_reaches_the_output(examples, served_shop, clock, capsys):
    shop = served_shop("jd")
    script = examples("pull_todays_orders")

    assert script.main(["--config", str(shop.config), "--channel", "jd"], clock=clock) == 0

    captured = capsys.readouterr()
    for secret in DEMO_CREDENTIALS.values():
        assert secret not in captured.out + captured.err


def test_a_missing_secret_is_a_one_line_error(examples, served_shop, clock, capsys, monkeypatch):
    shop = served_shop("tmall")
    monkeypatch.delenv("CHANNELSYNC_TMALL_SHOP_APP_SECRET")
    script = examples("pull_todays_orders")

    code = script.main(["--config", str(shop.config), "--channel", "tmall"], clock=clock)

    err = capsys.readouterr().err
    assert code == 2
    assert "app_secret" in err
    assert "Traceback" not in err
    assert shop.fake.calls.total() == 0


def test_a_config_without_the_channel_type_is_refused(examples, served_shop, clock, capsys):
    shop = served_shop("tmall")
    script = examples("pull_todays_orders")

    code = script.main(["--config", str(shop.config), "--channel", "jd"], clock=clock)

    assert code == 2
    assert "no channel of type 'jd'" in capsys.readouterr().err

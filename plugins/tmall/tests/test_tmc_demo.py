"""Events settings, and the demo seam: demo settings and credentials plus ``events_url``."""

from __future__ import annotations

import importlib

import pytest
from channelsync_tmall import TmallChannel, TmallSettings
from pydantic import ValidationError

from channelsync.channels import Capability, EventKind
from channelsync.credentials import CredentialStore
from channelsync.credentials.memory import MemorySecretBackend
from channelsync.plugins import build_plugin_manager

from .conftest import EventStream


def test_events_settings_default_to_production_tmc_and_the_default_group() -> None:
    settings = TmallSettings(app_key="12345678")
    assert settings.events_url == "ws://mc.api.taobao.com/"
    assert settings.group_name == "default"
    assert settings.events is False
    assert TmallChannel.supports(Capability.EVENTS)
    assert "TMC" in TmallChannel.capability_notes[Capability.EVENTS]


@pytest.mark.parametrize(
    "url", ["http://mc.api.taobao.com/", "mc.api.taobao.com", "ws://", "wss:///path"]
)
def test_events_url_must_be_a_websocket_url(url: str) -> None:
    with pytest.raises(ValidationError, match="events_url"):
        TmallSettings(app_key="1", events_url=url)


def test_group_name_is_bounded() -> None:
    with pytest.raises(ValidationError, match="group_name"):
        TmallSettings(app_key="1", group_name="")
    with pytest.raises(ValidationError, match="group_name"):
        TmallSettings(app_key="1", group_name="g" * 33)


def test_events_appear_among_the_capabilities_the_registry_reports() -> None:
    host = build_plugin_manager()
    assert Capability.EVENTS in host.registry.get("tmall").capabilities()


async def test_a_channel_built_from_the_demo_module_receives_an_event() -> None:
    cls = build_plugin_manager().registry.get("tmall")
    assert cls.demo_module is not None
    module = importlib.import_module(cls.demo_module)
    fake = module.demo_fake(seed=5)
    assert hasattr(fake, "serve_events")
    with fake.serve() as gateway, fake.serve_events() as events:
        settings = {
            **module.DEMO_SETTINGS,
            "base_url": f"{gateway.url}/router/rest",
            "events": True,
            "events_url": events.url,
        }
        name = "tmall-demo"
        backend = MemorySecretBackend({(name, k): v for k, v in module.DEMO_CREDENTIALS.items()})
        channel = cls(
            name,
            cls.settings_model.model_validate(settings),
            CredentialStore(backend=backend, environ={}).for_channel(name),
        )
        async with channel:
            assert isinstance(channel, TmallChannel)
            stream = EventStream(channel.listen())
            try:
                (order,) = fake.generate_orders(1)
                event = await stream.next()
                assert event.kind is EventKind.ORDER
                assert event.key == order.order_id
                assert await stream.listener.ack(event)
                found = await channel.get_order(event.key)
                assert found.order_id == order.order_id
            finally:
                await stream.close()

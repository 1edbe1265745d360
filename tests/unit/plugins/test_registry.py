from __future__ import annotations

from abc import abstractmethod

import pytest

from channelsync.channels import Channel, ChannelSettings
from channelsync.errors import PluginError
from channelsync.plugins import ChannelRegistry


class ShopChannel(Channel[ChannelSettings]):
    type_name = "shop"
    display_name = "Shop"
    settings_model = ChannelSettings
    credential_fields = ("app_secret",)


class OtherShopChannel(Channel[ChannelSettings]):
    type_name = "shop"
    display_name = "Another shop"
    settings_model = ChannelSettings


class MarketChannel(Channel[ChannelSettings]):
    type_name = "market"
    display_name = "Market"
    settings_model = ChannelSettings


class AbstractChannel(Channel[ChannelSettings]):
    type_name = "abstract"
    display_name = "Abstract"

    @abstractmethod
    def sign(self) -> str: ...


class NamelessChannel(Channel[ChannelSettings]):
    display_name = "Nameless"


class BadSettingsChannel(Channel[ChannelSettings]):
    type_name = "bad-settings"
    display_name = "Bad settings"
    settings_model = dict  # type: ignore[assignment]


def test_add_and_look_up() -> None:
    registry = ChannelRegistry()
    registry.scoped("alpha").add(ShopChannel)
    registry.scoped("beta").add(MarketChannel)

    assert registry.get("shop") is ShopChannel
    assert "shop" in registry
    assert "tmall" not in registry
    assert list(registry) == ["market", "shop"]
    assert registry.types() == ["market", "shop"]
    assert len(registry) == 2
    assert registry.provider("shop") == "alpha"
    assert registry.types_of("beta") == ("market",)


def test_unknown_type_lists_known_ones() -> None:
    registry = ChannelRegistry().scoped("alpha")
    registry.add(ShopChannel)

    with pytest.raises(KeyError, match=r"'tmall'.*known: shop"):
        registry.get("tmall")


def test_duplicate_type_names_both_plugins() -> None:
    registry = ChannelRegistry()
    registry.scoped("alpha").add(ShopChannel)

    with pytest.raises(PluginError) as caught:
        registry.scoped("beta").add(OtherShopChannel)

    assert caught.value.plugin == "beta"
    message = str(caught.value)
    assert "'shop'" in message
    assert "already registered by plugin 'alpha'" in message
    assert registry.get("shop") is ShopChannel


def test_same_class_again_from_same_plugin_is_harmless() -> None:
    registry = ChannelRegistry().scoped("alpha")
    registry.add(ShopChannel)
    registry.add(ShopChannel)

    assert registry.types() == ["shop"]


@pytest.mark.parametrize(
    ("candidate", "problem"),
    [
        (object, "subclasses of channelsync.channels.Channel"),
        (
            ShopChannel(
                "x",
                ChannelSettings(),
                None,  # type: ignore[arg-type]
            ),
            "subclasses of channelsync.channels.Channel",
        ),
        (AbstractChannel, "abstract (unimplemented: sign)"),
        (NamelessChannel, "needs a class attribute `type_name`"),
        (BadSettingsChannel, "`settings_model` must be a subclass"),
    ],
)
def test_invalid_classes_are_refused_naming_the_plugin(candidate: object, problem: str) -> None:
    registry = ChannelRegistry().scoped("gamma")

    with pytest.raises(PluginError) as caught:
        registry.add(candidate)

    assert caught.value.plugin == "gamma"
    assert str(caught.value).startswith("plugin 'gamma': ")
    assert problem in str(caught.value)
    assert len(registry) == 0


def test_remove_provider() -> None:
    registry = ChannelRegistry()
    registry.scoped("alpha").add(ShopChannel)
    registry.scoped("alpha").add(MarketChannel)

    assert registry.remove_provider("alpha") == ["market", "shop"]
    assert registry.types() == []

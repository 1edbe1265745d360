from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from channelsync.channels import Channel, ChannelSettings
from channelsync.config import (
    ChannelConfig,
    Config,
    StoreConfig,
    is_secret_name,
    load_config,
    resolve_channel_type,
    resolve_settings,
)
from channelsync.errors import ConfigurationError
from channelsync.plugins import ChannelRegistry

CANARY = "s3cr3t-CANARY-value"


class ShopSettings(ChannelSettings):
    app_key: str
    shop_id: int
    region: str = "cn"


class ShopChannel(Channel[ShopSettings]):
    type_name = "shop"
    display_name = "Test shop"
    settings_model = ShopSettings
    credential_fields = ("app_secret", "signing_material")
    optional_credential_fields = ("refresh_token",)


class GatewaySettings(ChannelSettings):
    base_url: str | None = "https://gateway.example.com"


class GatewayChannel(Channel[GatewaySettings]):
    type_name = "gateway"
    display_name = "Gateway"
    settings_model = GatewaySettings


def write(tmp_path: Path, text: str, name: str = "channelsync.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


VALID = """
    [store]
    url = "sqlite:////var/lib/channelsync/state.db"

    [[channels]]
    name = "tmall-main"
    type = "shop"
    base_url = "https://sandbox.example.com/router"
    app_key = "12345678"
    shop_id = 42

    [[channels]]
    name = "jd.eu_2"
    type = "shop"
    app_key = "abc"
    shop_id = 7
    region = "eu"
"""


def test_valid_file(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, VALID))

    assert config.path == tmp_path / "channelsync.toml"
    assert config.store == StoreConfig(url="sqlite:////var/lib/channelsync/state.db")
    assert config.channel_names == ["tmall-main", "jd.eu_2"]
    first = config.channel("tmall-main")
    assert first.type == "shop"
    assert first.base_url == "https://sandbox.example.com/router"
    assert dict(first.settings) == {"app_key": "12345678", "shop_id": 42}
    assert config.channel("jd.eu_2").base_url is None


def test_default_path_is_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, VALID)
    monkeypatch.chdir(tmp_path)

    assert load_config().path == tmp_path / "channelsync.toml"


def test_default_store_is_a_sqlite_file_next_to_the_config(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "channels = []\n"))

    assert config.store.url == f"sqlite:///{tmp_path.as_posix()}/channelsync.db"
    assert config.store.sqlite_path == tmp_path / "channelsync.db"
    assert config.channels == ()


def test_relative_sqlite_path_is_relative_to_the_config(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[store]\nurl = "sqlite:///data/state.db"\n'))

    assert config.store.sqlite_path == tmp_path / "data" / "state.db"


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"

    with pytest.raises(ConfigurationError, match="not found") as caught:
        load_config(missing)

    assert str(missing) in str(caught.value)


def test_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[[channels]]\nname = "a"\ntype = \n')

    with pytest.raises(ConfigurationError) as caught:
        load_config(path)

    message = str(caught.value)
    assert str(path) in message
    assert "invalid TOML" in message
    assert "line 3" in message


def test_duplicate_channel_names(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [[channels]]
        name = "shop"
        type = "shop"
        [[channels]]
        name = "shop"
        type = "other"
        """,
    )

    with pytest.raises(ConfigurationError, match="duplicate channel name") as caught:
        load_config(path)

    assert caught.value.channel == "shop"
    assert "entries 1 and 2" in str(caught.value)


@pytest.mark.parametrize("name", ["-shop", "has space", "a/b", "x" * 64, ""])
def test_bad_channel_name(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, f'[[channels]]\nname = "{name}"\ntype = "shop"\n')

    with pytest.raises(ConfigurationError, match="invalid channel name") as caught:
        load_config(path)

    assert caught.value.field == "name"
    assert "entry 1 of [[channels]]" in str(caught.value)


def test_missing_name_names_the_entry(tmp_path: Path) -> None:
    path = write(tmp_path, '[[channels]]\nname = "ok"\ntype = "shop"\n[[channels]]\ntype = "x"\n')

    with pytest.raises(ConfigurationError, match="entry 2 of \\[\\[channels\\]\\] has no 'name'"):
        load_config(path)


def test_wrong_type_names_channel_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, '[[channels]]\nname = "shop"\ntype = 3\n')

    with pytest.raises(ConfigurationError, match="not an integer") as caught:
        load_config(path)

    assert (caught.value.path, caught.value.channel, caught.value.field) == (
        str(path),
        "shop",
        "type",
    )


def test_missing_type(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="missing 'type'"):
        load_config(write(tmp_path, '[[channels]]\nname = "shop"\n'))


def test_bad_base_url(tmp_path: Path) -> None:
    path = write(tmp_path, '[[channels]]\nname = "s"\ntype = "shop"\nbase_url = "ftp://x"\n')

    with pytest.raises(ConfigurationError, match="http:// or https://") as caught:
        load_config(path)

    assert caught.value.field == "base_url"


def test_unknown_top_level_key(tmp_path: Path) -> None:
    path = write(tmp_path, 'verbose = true\n[logging]\nlevel = "debug"\n')

    with pytest.raises(ConfigurationError, match="'logging', 'verbose'") as caught:
        load_config(path)

    assert str(path) in str(caught.value)


def test_unknown_store_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="'path' in \\[store\\]"):
        load_config(write(tmp_path, '[store]\npath = "x.db"\n'))


def test_channels_must_be_an_array_of_tables(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="array of tables"):
        load_config(write(tmp_path, '[channels]\nname = "shop"\n'))


@pytest.mark.parametrize(
    "key",
    ["app_secret", "session", "lwa_client_secret", "refresh_token", "db_password", "API_KEY"],
)
def test_secret_in_file_is_refused_without_echoing_it(tmp_path: Path, key: str) -> None:
    path = write(
        tmp_path,
        f'[[channels]]\nname = "tmall-main"\ntype = "shop"\n{key} = "{CANARY}"\n',
    )

    with pytest.raises(ConfigurationError) as caught:
        load_config(path)

    message = str(caught.value)
    assert CANARY not in message
    assert CANARY not in repr(caught.value)
    assert str(path) in message
    assert "'tmall-main'" in message
    assert repr(key) in message
    assert f"channelsync credentials set tmall-main {key}" in message
    assert f"CHANNELSYNC_TMALL_MAIN_{key.upper()}" in message


def test_nested_secret_is_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f'[[channels]]\nname = "shop"\ntype = "shop"\n[channels.auth]\ntoken = "{CANARY}"\n',
    )

    with pytest.raises(ConfigurationError, match=r"'auth\.token'") as caught:
        load_config(path)

    assert CANARY not in str(caught.value)
    assert "CHANNELSYNC_SHOP_TOKEN" in str(caught.value)


def test_secret_name_rules() -> None:
    assert is_secret_name("client_secret")
    assert is_secret_name("Access-Token")
    assert is_secret_name("smtp_password")
    assert not is_secret_name("app_key")
    assert not is_secret_name("token_url")
    assert not is_secret_name("shop_id")


def test_unknown_channel_lookup_names_known_ones(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, VALID))

    with pytest.raises(ConfigurationError, match=r"'pdd'.*tmall-main, jd\.eu_2"):
        config.channel("pdd")


# -- resolution against a channel type ------------------------------------------------


def make_config(tmp_path: Path, **settings: Any) -> tuple[Config, ChannelConfig]:
    base_url = settings.pop("base_url", None)
    channel = ChannelConfig(name="shop1", type="shop", base_url=base_url, settings=settings)
    config = Config(
        path=tmp_path / "channelsync.toml",
        store=StoreConfig(url="sqlite:///x.db"),
        channels=(channel,),
    )
    return config, channel


def test_resolve_settings_validates_with_the_plugin_model(tmp_path: Path) -> None:
    config, channel = make_config(
        tmp_path, app_key="k", shop_id="42", base_url="https://sandbox.example.com/"
    )

    settings = resolve_settings(config, channel, ShopChannel)

    assert isinstance(settings, ShopSettings)
    assert settings.shop_id == 42
    assert settings.region == "cn"
    assert settings.base_url == "https://sandbox.example.com"


def test_resolve_settings_keeps_the_model_default_base_url(tmp_path: Path) -> None:
    config, channel = make_config(tmp_path)
    channel = ChannelConfig(name="g", type="gateway")

    settings = resolve_settings(config, channel, GatewayChannel)

    assert settings.base_url == "https://gateway.example.com"


def test_settings_error_names_file_channel_and_field(tmp_path: Path) -> None:
    config, channel = make_config(tmp_path, app_key="k", shop_id="many")

    with pytest.raises(ConfigurationError) as caught:
        resolve_settings(config, channel, ShopChannel)

    error = caught.value
    assert (error.path, error.channel, error.field) == (str(config.path), "shop1", "shop_id")
    assert "valid integer" in str(error)
    assert str(config.path) in str(error)


def test_unknown_and_missing_settings_are_listed(tmp_path: Path) -> None:
    config, channel = make_config(tmp_path, shopid=1)

    with pytest.raises(ConfigurationError) as caught:
        resolve_settings(config, channel, ShopChannel)

    message = str(caught.value)
    assert "3 invalid settings" in message
    assert "field 'app_key'" in message
    assert "field 'shop_id'" in message
    assert "field 'shopid': unknown setting" in message


def test_plugin_credential_field_in_settings_is_refused(tmp_path: Path) -> None:
    config, channel = make_config(tmp_path, app_key="k", shop_id=1, signing_material=CANARY)

    with pytest.raises(ConfigurationError) as caught:
        resolve_settings(config, channel, ShopChannel)

    message = str(caught.value)
    assert CANARY not in message
    assert "channelsync credentials set shop1 signing_material" in message
    assert "CHANNELSYNC_SHOP1_SIGNING_MATERIAL" in message
    assert caught.value.field == "signing_material"


def test_resolve_channel_type(tmp_path: Path) -> None:
    registry = ChannelRegistry().scoped("test-plugin")
    registry.add(ShopChannel)
    registry.add(GatewayChannel)
    config, channel = make_config(tmp_path)

    assert resolve_channel_type(config, channel, registry) is ShopChannel

    unknown = ChannelConfig(name="x", type="tmall")
    with pytest.raises(ConfigurationError) as caught:
        resolve_channel_type(config, unknown, registry)
    message = str(caught.value)
    assert "'tmall'" in message
    assert "gateway, shop" in message
    assert "channelsync plugins" in message
    assert caught.value.field == "type"

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest

from channelsync.daemon import setup_logging, working_on

SECRET = "s3cr3t-app-secret-value"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger("channelsync")
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


@pytest.mark.usefixtures("restore_logging")
def test_json_lines_name_the_channel_of_the_task_and_scrub_secrets() -> None:
    stream = io.StringIO()
    setup_logging("json", secrets=[SECRET], stream=stream)
    log = logging.getLogger("channelsync.engine.outbox")

    async def channel_work(name: str) -> None:
        with working_on(name):
            await asyncio.sleep(0)
            log.warning("sending with app_secret=%s", SECRET)

    async def both() -> None:
        await asyncio.gather(channel_work("tmall-main"), channel_work("jd-pop"))

    asyncio.run(both())
    log.info("not about a channel")
    records = [json.loads(line) for line in lines(stream)]
    assert sorted(r.get("channel") for r in records[:2]) == ["jd-pop", "tmall-main"]
    assert "channel" not in records[2]
    assert all(SECRET not in line for line in lines(stream))
    assert records[0]["level"] == "warning"
    assert records[0]["logger"] == "channelsync.engine.outbox"


@pytest.mark.usefixtures("restore_logging")
def test_text_lines_show_the_channel_and_an_explicit_channel_wins() -> None:
    stream = io.StringIO()
    setup_logging("text", stream=stream)
    log = logging.getLogger("channelsync.daemon")
    with working_on("pdd-1"):
        log.info("pulled")
        log.info("about another", extra={"channel": "amazon-us"})
    log.info("started")
    first, second, third = lines(stream)
    assert "INFO    [pdd-1] channelsync.daemon: pulled" in first
    assert "[amazon-us]" in second
    assert "[" not in third.split("INFO", 1)[1]


@pytest.mark.usefixtures("restore_logging")
def test_json_exceptions_are_scrubbed_too() -> None:
    stream = io.StringIO()
    setup_logging("json", secrets=[SECRET], stream=stream)
    try:
        raise RuntimeError(f"token {SECRET} refused")
    except RuntimeError:
        logging.getLogger("channelsync.x").exception("failed")
    (record,) = [json.loads(line) for line in lines(stream)]
    assert "RuntimeError" in record["exception"]
    assert SECRET not in record["exception"]

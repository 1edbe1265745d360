from __future__ import annotations

import asyncio

import pytest

from channelsync.channels import Page, next_page_number, paginate
from channelsync.errors import DataError


def _drain(pages: dict[int, Page[str, int]]) -> list[str]:
    async def fetch(token: int) -> Page[str, int]:
        return pages[token]

    async def run() -> list[str]:
        return [item async for item in paginate(fetch, 1)]

    return asyncio.run(run())


def test_paginate_reads_every_page_in_order() -> None:
    pages = {1: Page(["a", "b"], 2), 2: Page(["c"], 3), 3: Page([], None)}
    assert _drain(pages) == ["a", "b", "c"]


def test_a_repeated_page_token_is_an_error_not_an_endless_loop() -> None:
    pages = {1: Page(["a"], 2), 2: Page(["b"], 1)}
    with pytest.raises(DataError, match="repeated page token 1"):
        _drain(pages)


@pytest.mark.parametrize(
    ("page_no", "size", "received", "total", "expected"),
    [
        (1, 100, 100, None, 2),  # full page: there may be more
        (1, 100, 99, None, None),  # short page: the last
        (1, 100, 0, None, None),  # empty
        (2, 100, 100, 200, None),  # exact multiple of the page size, total known
        (1, 100, 100, 101, 2),
        (1, 100, 0, 5, None),  # the marketplace counted more than it returned: stop
    ],
)
def test_next_page_number(
    page_no: int, size: int, received: int, total: int | None, expected: int | None
) -> None:
    assert next_page_number(page_no, size, received, total) == expected

"""Paging strategies shared by every plugin, with a guard against endless loops.

A plugin writes one ``fetch(token) -> Page`` function that reads one page and says
which token comes next; :func:`paginate` drives it. Tokens may be page numbers,
opaque cursors or offsets. A marketplace that hands back a token it already gave
(a bug, or a page that never ends) raises :class:`~channelsync.errors.DataError`
instead of looping forever.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from channelsync.errors import DataError

__all__ = ["Page", "next_page_number", "paginate"]

ItemT = TypeVar("ItemT")
TokenT = TypeVar("TokenT", bound=Hashable)


@dataclass(frozen=True, slots=True)
class Page(Generic[ItemT, TokenT]):
    """One page of results and the token of the page after it (``None``: last page)."""

    items: Sequence[ItemT]
    next_token: TokenT | None


async def paginate(
    fetch: Callable[[TokenT], Awaitable[Page[ItemT, TokenT]]],
    first: TokenT,
    *,
    max_pages: int = 100_000,
    what: str = "pages",
) -> AsyncIterator[ItemT]:
    """Yield every item of every page, fetching pages one after another.

    Raises :class:`DataError` when a page token repeats or ``max_pages`` is passed.
    """
    token = first
    seen: set[TokenT] = {first}
    for _ in range(max_pages):
        page = await fetch(token)
        for item in page.items:
            yield item
        if page.next_token is None:
            return
        if page.next_token in seen:
            raise DataError(f"{what}: the marketplace repeated page token {page.next_token!r}")
        seen.add(page.next_token)
        token = page.next_token
    raise DataError(f"{what}: more than {max_pages} pages; refusing to page further")


def next_page_number(
    page_no: int, page_size: int, received: int, total: int | None = None
) -> int | None:
    """Return the next page number for page-number paging, or ``None`` after the last page.

    With a ``total`` count the last page is the one that reaches it; without one, a
    short page is the last.
    """
    if total is not None:
        return page_no + 1 if page_no * page_size < total and received > 0 else None
    return page_no + 1 if received >= page_size else None

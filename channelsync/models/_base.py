"""The private base of every domain model and the small string types they share."""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints

__all__ = ["DomainModel", "Identifier", "NonEmptyStr", "check_no_control_chars"]


class DomainModel(BaseModel):
    """Base of the domain models: immutable, and unknown fields are an error."""

    model_config = ConfigDict(frozen=True, extra="forbid")


_ASCII_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_no_control_chars(value: str) -> str:
    """Return ``value`` unchanged, or raise ``ValueError`` naming it if it has control chars."""
    if value.isascii():
        # The common case (ids, codes), and a per-character category lookup is the main
        # cost of validating an order.
        if _ASCII_CONTROL.search(value):
            raise ValueError(f"{value!r} contains control or invisible characters")
        return value
    if any(unicodedata.category(char).startswith("C") for char in value):
        raise ValueError(f"{value!r} contains control or invisible characters")
    return value


#: Free text that must not be blank; surrounding whitespace is stripped.
NonEmptyStr = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]

#: A code or id (merchant code, item id, order id ...): stripped, non-empty, no control chars.
Identifier = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1),
    AfterValidator(check_no_control_chars),
]

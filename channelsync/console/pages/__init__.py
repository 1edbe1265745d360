"""The data of each console page, as JSON-able dicts (rendered as HTML or answered as JSON)."""

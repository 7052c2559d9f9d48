"""Exercise checks of chapter 11 (being written)."""

__all__: list[str] = []

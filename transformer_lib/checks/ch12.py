"""Exercise checks of chapter 12 (being written)."""

__all__: list[str] = []

"""Exercise checks of chapter 09 (being written)."""

__all__: list[str] = []

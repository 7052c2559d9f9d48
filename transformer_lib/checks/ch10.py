"""Exercise checks of chapter 10 (being written)."""

__all__: list[str] = []

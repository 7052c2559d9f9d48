"""Exercise checks of chapter 07 (being written)."""

__all__: list[str] = []

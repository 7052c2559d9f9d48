"""Exercise checks of chapter 08 (being written)."""

__all__: list[str] = []

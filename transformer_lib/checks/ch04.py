"""Checks for the exercises of chapter 4."""

__all__: list[str] = []

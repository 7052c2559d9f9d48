"""What each chapter costs to run, and how transformer_lib compares with PyTorch's own modules.

Run ``make bench`` (or ``python -m benchmarks.run``); ``make bench QUICK=1`` is the smoke run.
See benchmarks/README.md.
"""

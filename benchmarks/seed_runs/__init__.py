"""One module per chapter whose page quotes a spread over seeds: see benchmarks/seeds.py."""

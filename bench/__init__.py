"""asap-native's benchmarks: ``python bench/run.py`` (``make bench``) runs every
``bench_*.py`` module; see README.md. ``common`` holds what the modules share."""

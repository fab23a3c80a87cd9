"""Tools for developers, not the show: the benchmark (`facebridge bench`) and the soak (`benchmarks/soak.py`)."""

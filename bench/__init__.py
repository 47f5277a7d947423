"""Benchmark of the deployment (issue 4): `python -m bench.run`; see bench/README.md."""

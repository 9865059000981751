"""Ballast's benchmarks: `python -m bench [names...]` (or `./ballast bench`). See bench/__main__.py."""

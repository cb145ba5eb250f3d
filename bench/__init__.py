"""Benchmarks of ephemail (run with `make bench`; not part of `make test`)."""

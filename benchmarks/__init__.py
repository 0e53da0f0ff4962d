"""Load and latency benchmarks of a production-mode hub, and the launcher they (and tests) share."""

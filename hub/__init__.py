"""The shell around the pure core: HTTP, persistence, workers, realtime, auth and the CLI."""

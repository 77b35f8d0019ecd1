"""The demo: train, export, build, gate and stream in one run (a tool over all stages, like the CLI)."""

"""The benchmark: one table of backends x precisions over all stages (a tool, like the CLI)."""

"""neurodyn.diagnostics."""

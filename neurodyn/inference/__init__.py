"""neurodyn.inference."""

"""neurodyn.features."""

"""neurodyn.compute."""

"""neurodyn.population."""

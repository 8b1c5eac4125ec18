"""neurodyn.io."""

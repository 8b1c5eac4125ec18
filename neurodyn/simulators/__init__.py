"""neurodyn.simulators."""

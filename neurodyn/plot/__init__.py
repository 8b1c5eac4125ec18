"""neurodyn.plot."""

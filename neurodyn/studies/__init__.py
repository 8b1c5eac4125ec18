"""neurodyn.studies."""

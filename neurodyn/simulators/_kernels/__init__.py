"""neurodyn.simulators._kernels."""

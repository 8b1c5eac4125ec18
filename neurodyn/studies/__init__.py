"""End-to-end studies and demos (``neurodyn demo``, ``neurodyn study``)."""

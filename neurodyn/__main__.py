"""``python -m neurodyn``: the ``neurodyn`` command line (same as the installed script)."""

from neurodyn.cli import main

if __name__ == "__main__":
    main()

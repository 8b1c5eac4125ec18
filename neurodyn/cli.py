"""The ``neurodyn`` command line.

Each subcommand is a thin wrapper around a library function (imported lazily so that
``neurodyn --help`` stays fast). Options are typed; long work shows a progress bar.
"""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(
    name="neurodyn",
    help=(
        "Train deep networks to identify models of neural dynamics.\n\n"
        "demo: the end-to-end main job. simulate/train/infer/analyse: simulation-based "
        "inference for mechanistic models. fit: SynapsNet on population recordings. "
        "report: an HTML report of a result folder."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def _root() -> None:
    """neurodyn: simulation-based inference for mechanistic models and SynapsNet."""


@app.command()
def demo(
    name: str = typer.Argument(
        "hh", help="Which demo: 'hh' (Hodgkin-Huxley, default), 'pyloric', 'synapsnet'."
    ),
    out: Path = typer.Option(Path("neurodyn_out"), "--out", "-o", help="Output folder."),
    device: str = typer.Option("auto", help="'auto' (GPU when present), 'cpu' or 'cuda'."),
    quick: bool = typer.Option(False, help="Tiny budgets (seconds), for smoke tests."),
) -> None:
    """Run an end-to-end demo and write its report into OUT (nothing is written elsewhere)."""
    from neurodyn.studies.demo import run_demo

    path = run_demo(name, out=out, device=device, quick=quick)
    typer.echo(f"report: {path}")


def main() -> None:
    """Entry point of the ``neurodyn`` script."""
    app()


if __name__ == "__main__":
    main()

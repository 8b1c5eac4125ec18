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


@app.command()
def simulate(
    model: str = typer.Argument(..., help="Simulator: 'hh' or 'pyloric'."),
    num: int = typer.Option(..., "--num", "-n", help="Number of simulations."),
    store: Path = typer.Option(..., "--store", help="zarr store (created, or resumed)."),
    scheduler: str | None = typer.Option(
        None, help="dask scheduler address or scheduler file; default: local workers."
    ),
    seed: int = typer.Option(0, help="Campaign seed (theta and noise of every simulation)."),
    chunk: int = typer.Option(10_000, help="Simulations per task / zarr chunk."),
    workers: int | None = typer.Option(None, help="Local worker processes (no --scheduler)."),
    device: str = typer.Option("cpu", help="'cpu', 'cuda' (one worker per GPU) or 'auto'."),
    group: str | None = typer.Option(None, help="Group inside the store (e.g. a round)."),
) -> None:
    """Run or resume a simulation campaign into a zarr store (re-run the same command to
    finish an interrupted campaign)."""
    from neurodyn.compute import simulate as run_campaign
    from neurodyn.compute.models import make_simulator

    sim = make_simulator(model, device)
    result = run_campaign(
        sim,
        sim.prior,
        num,
        store,
        scheduler=scheduler,
        chunk=chunk,
        seed=seed,
        workers=workers,
        group=group,
    )
    typer.echo(str(result))


@app.command()
def train(
    store: Path = typer.Option(..., "--store", help="A finished simulation store."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the posterior."),
    group: str | None = typer.Option(None, help="Group inside the store."),
    estimator: str = typer.Option("nsf", help="'nsf', 'maf' or 'mdn'."),
    max_epochs: int = typer.Option(1000, help="Upper bound on training epochs."),
    batch_size: int = typer.Option(256, help="Minibatch size."),
    device: str = typer.Option("auto", help="'auto', 'cpu' or 'cuda'."),
    ensemble: int = typer.Option(
        1, help="Train K estimators (seeds 0..K-1) and save their mixture (more robust)."
    ),
) -> None:
    """Train NPE from a simulation store (streamed, so it may exceed memory); save the
    posterior (safetensors + JSON) into OUT."""
    from neurodyn.compute.rounds import train_from_store
    from neurodyn.inference import NPEConfig

    config = NPEConfig(
        estimator=estimator, max_epochs=max_epochs, batch_size=batch_size, device=device
    )
    train_from_store(store, out, group=group, config=config, ensemble=ensemble)
    typer.echo(f"posterior: {out}")


@app.command()
def fit(
    recording: Path = typer.Argument(..., help="A .npz or .nwb recording."),
    out: Path = typer.Option(Path("synapsnet_out"), "--out", "-o", help="Output folder."),
    config: Path | None = typer.Option(None, help="TOML file with a [synapsnet] table."),
    window: int = typer.Option(16, help="Context window (steps); ignored with --config."),
    decoder: str = typer.Option("mlp", help="'mlp', 'gru' or 'transformer'."),
    loss: str = typer.Option("auto", help="'mse', 'poisson' or 'auto' (poisson for counts)."),
    epochs: int = typer.Option(50, help="Maximum epochs."),
    bin_size: float | None = typer.Option(None, help="Bin width (s) for spike-time files."),
    behaviour: bool = typer.Option(True, help="Use the file's behaviour channels."),
    series: str = typer.Option("auto", help="NWB activity: 'auto', 'units' or a series name."),
    behaviour_series: list[str] | None = typer.Option(
        None, help="NWB behaviour series name(s), or 'auto' for the behavior module."
    ),
    device: str = typer.Option("auto", help="'auto', 'cpu' or 'cuda'."),
) -> None:
    """Fit SynapsNet to a recording; write model, connectivity, plots and a summary to OUT
    (re-run the same command to resume an interrupted fit)."""
    import json

    from neurodyn.io import load_recording
    from neurodyn.population import SynapsNetConfig
    from neurodyn.population.workflow import config_from_toml, fit_recording

    if config is not None:
        cfg = config_from_toml(config)
    else:
        if loss == "auto":
            kind = load_recording(recording, bin_size_s=bin_size, activity=series).kind
            loss = "poisson" if kind == "counts" else "mse"
        cfg = SynapsNetConfig(window=window, decoder=decoder, loss=loss, epochs=epochs)
    nwb_beh = None
    if behaviour_series:
        nwb_beh = "auto" if behaviour_series == ["auto"] else list(behaviour_series)
    summary = fit_recording(
        recording,
        out,
        cfg,
        use_behaviour=behaviour,
        bin_size_s=bin_size,
        activity=series,
        behaviour_series=nwb_beh,
        device=device,
    )
    typer.echo(
        json.dumps(
            {
                k: summary[k]
                for k in ("test_mse", "test_mean_pearson_r", "last_value_test_mean_pearson_r")
            }
        )
    )
    typer.echo(f"results: {out}")


@app.command()
def study(
    name: str = typer.Argument(
        ...,
        help="'hh-synthetic' (eLife Fig 5), 'hh-allen' (Fig 6), 'pyloric' (Fig 8 paths), "
        "'pyloric-posterior' (Figs 8-9 with a trained posterior).",
    ),
    out: Path = typer.Option(Path("neurodyn_study"), "--out", "-o", help="Output folder."),
    num_simulations: int = typer.Option(20_000, help="Simulation budget (hh studies)."),
    max_epochs: int = typer.Option(200, help="Training epochs at most (hh studies)."),
    seed: int = typer.Option(0, help="Seed of draws, simulations and training."),
    device: str = typer.Option("auto", help="'auto' (GPU when present), 'cpu' or 'cuda'."),
    budget_s: float = typer.Option(420.0, help="Wall-clock budget in s (pyloric-posterior)."),
) -> None:
    """Run a reproduction study and write report.html (+ report.json) into OUT."""
    from neurodyn.studies.cli import run_study

    path = run_study(
        name,
        out=out,
        num_simulations=num_simulations,
        max_epochs=max_epochs,
        seed=seed,
        device=device,
        budget_s=budget_s,
        echo=typer.echo,
    )
    typer.echo(f"report: {path}")


@app.command()
def infer(
    posterior: Path = typer.Argument(
        ..., help="Folder written by Posterior.save (or EnsemblePosterior.save)."
    ),
    x_o: str = typer.Option(
        ...,
        "--x-o",
        help="Observation: a .npy/.csv/.txt/.json file "
        "or a comma list, e.g. '5,-70.2,0.06,-56.4,374.6,3.70,18.3'.",
    ),
    num_samples: int = typer.Option(10_000, "--num-samples", "-n", help="Posterior samples."),
    out: Path = typer.Option(Path("samples.npy"), "--out", "-o", help="Output .npy or .csv."),
    seed: int = typer.Option(0, help="Seed of the sampler."),
    device: str = typer.Option("cpu", help="'cpu' or 'cuda'."),
) -> None:
    """Sample a saved posterior for the observation X_O and write the samples to OUT."""
    from neurodyn.inference.infer_cli import run_infer

    path, acceptance = run_infer(
        posterior, x_o, num_samples=num_samples, out=out, seed=seed, device=device
    )
    typer.echo(f"samples: {path} (acceptance rate inside the prior {acceptance:.3f})")


def main() -> None:
    """Entry point of the ``neurodyn`` script."""
    app()


if __name__ == "__main__":
    main()

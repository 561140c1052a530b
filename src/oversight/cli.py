"""The ``oversight`` command line."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from oversight.core.errors import OversightError
from oversight.report.model import Table as ReportTable
from oversight.report.model import format_cell

if TYPE_CHECKING:
    from oversight.core.runs import RunStore

app = typer.Typer(
    help="oversight: AI-assisted evaluation (critiques, debate, recursive reward modeling) "
    "and the measurements that tell whether it works.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(width=120)  # the summary table needs about 110 columns
errors = Console(stderr=True, soft_wrap=True)


def fail(message: object) -> NoReturn:
    """One unwrapped error line on stderr, exit code 2. The text is escaped: a path or value
    may hold ``[...]``, which rich would read as markup."""
    errors.print(f"[red]error:[/] {escape(str(message))}", soft_wrap=True)
    raise typer.Exit(2)


@contextmanager
def clear_errors() -> Iterator[None]:
    """The toolkit's errors and the operating system's (no permission, disk full, a folder
    where a file should be) as one line each."""
    try:
        yield
    except OversightError as e:
        fail(e)
    except OSError as e:
        where = f"{e.filename}: " if e.filename else ""
        fail(f"{where}{e.strerror or e}")


def rich_table(table: ReportTable) -> Table:
    """A report table rendered for the terminal: first column left, the others right."""
    out = Table(title=table.title)
    for i, col in enumerate(table.columns):
        out.add_column(col, justify="left" if i == 0 else "right", no_wrap=True)
    for row in table.rows:
        out.add_row(*(format_cell(c) for c in row))
    return out


@app.command()
def run(
    config: Annotated[
        str | None,
        typer.Argument(
            help="A YAML config file or an embedded config's name (default: offense-defense)."
        ),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a config key, e.g. --set judge.budget=300."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Run folder (default: a new folder under runs/).")
    ] = None,
    resume: Annotated[
        Path | None, typer.Option(help="Continue the run in this folder; redoes nothing.")
    ] = None,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
    quick: Annotated[
        bool, typer.Option(help="Use the embedded '<name>-quick' variant of the config.")
    ] = False,
) -> None:
    """Run an experiment (default: offense-defense) and write its run folder.

    The folder holds config.yaml, transcripts.jsonl, metrics.json and report.html.
    """
    from oversight.experiments import registry
    from oversight.experiments.skeleton import main

    fresh: RunStore | None = None  # the folder this call created: removed if it fails early
    try:
        with clear_errors():
            if resume is not None:
                if config or set_ or out or quick:
                    raise OversightError(
                        "--resume takes no config, --set, --out or --quick: the run folder holds "
                        "its config"
                    )
                exp, cfg, store = registry.resume(resume)
            else:
                if quick:
                    config = registry.quick_variant(config)
                exp, cfg, store = registry.start(config, set_ or [], out)
                fresh = store
            console.print(f"[bold]{exp.name}[/] → {store.path}")
            analysis = main(exp, cfg, store, not quiet)
    except BaseException:
        if fresh is not None:
            fresh.discard_if_unstarted()
        raise
    console.print(rich_table(exp.summary(cfg, analysis)))
    console.print(f"report: {store.path / 'report.html'}")


@app.command()
def oracle(
    reference: Annotated[Path, typer.Argument(help="The reference program R (DSL file).")],
    artifact: Annotated[Path, typer.Argument(help="The claimed improvement P (DSL file).")],
    bits: Annotated[int, typer.Option(help="Input width B.")] = 16,
    show: Annotated[int, typer.Option(help="How many differing inputs to list.")] = 8,
) -> None:
    """Compare two DSL programs on every input with the gold oracle.

    Prints equivalence, the saving in lines, and the inputs on which they differ.
    """
    from oversight.envs.programs.dsl import load_program
    from oversight.envs.programs.oracle import gold_oracle

    with clear_errors():
        result = gold_oracle(load_program(reference, bits), load_program(artifact, bits))
    console.print(
        f"equivalent: {result.equivalent}   saving: {result.saving} lines   "
        f"acceptable: {result.label}   differing inputs: {len(result.diff_inputs)} "
        f"(share {result.share:.3g})"
    )
    if len(result.diff_inputs):
        console.print("first differing inputs: " + ", ".join(map(str, result.diff_inputs[:show])))


@app.command()
def export(
    run_dir: Annotated[Path, typer.Argument(help="A run folder (holds transcripts.jsonl).")],
    out: Annotated[
        Path | None, typer.Option(help="Output folder (default: RUN_DIR/export).")
    ] = None,
    labels: Annotated[
        str,
        typer.Option(
            help="Label source: judge (the judge's verdicts; never reads gold) or gold "
            "(gold-trained ceiling only)."
        ),
    ] = "judge",
    arm: Annotated[
        str | None, typer.Option(help="Export only this arm (default: every arm).")
    ] = None,
    margin: Annotated[
        str | None,
        typer.Option(help="Preference margin: saving (the claimed-saving gap); default none."),
    ] = None,
    cap: Annotated[
        int | None, typer.Option(help="At most this many pairs per problem and arm.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the --cap sample.")] = 0,
    chat: Annotated[
        bool,
        typer.Option(
            help="TRL's conversational type (user and assistant turns) instead of plain text."
        ),
    ] = False,
) -> None:
    """Export a run's verdicts as reward-model data in TRL's formats.

    Writes preference.jsonl (prompt, chosen, rejected) and unpaired.jsonl
    (prompt, completion, label), labelled by the judge unless --labels gold, each row with its
    arm. Program runs (offense-defense, rrm, ...) give program completions; text runs
    (text-debate, llm-debate) the question and its displayed answers.
    """
    from typing import cast

    from oversight.learning.export import LabelSource, MarginSource, export_run

    with clear_errors():
        if labels not in ("judge", "gold"):
            raise OversightError(f"--labels: unknown value {labels!r}; allowed: judge, gold")
        if margin not in (None, "saving"):
            raise OversightError(f"--margin: unknown value {margin!r}; allowed: saving")
        if cap is not None and cap < 0:
            raise OversightError(f"--cap: 0 or more, got {cap}")
        paths = export_run(
            run_dir,
            out or run_dir / "export",
            cast(LabelSource, labels),
            arm,
            margin=cast(MarginSource | None, margin),
            cap=cap,
            seed=seed,
            chat=chat,
        )
    for name, path in paths.items():
        n = sum(1 for line in path.read_text().splitlines() if line.strip())
        console.print(f"{name}: {n} rows → {path}")


@app.command()
def serve(
    db: Annotated[Path, typer.Option(help="SQLite database file (created and migrated).")] = Path(
        "oversight.db"
    ),
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    admin_secret: Annotated[
        str | None,
        typer.Option(
            envvar="OVERSIGHT_ADMIN_SECRET",
            help="Secret for the admin pages and API (8+ characters; or the env var).",
        ),
    ] = None,
    runs: Annotated[
        Path, typer.Option(help="Folder of run folders the transcript viewer opens.")
    ] = Path("runs"),
) -> None:
    """Serve the human-judging app and the transcript viewer (needs the app extra).

    Researchers sign in at /admin with the admin secret; judges open their personal links.
    """
    try:
        import uvicorn

        from oversight.web.app import create_app
    except ImportError as e:
        fail(f'{e.name} is missing; pip install "oversight[app]"')
    with clear_errors():
        if not 1 <= port <= 65535:
            raise OversightError(f"--port: {port} is not a port (1 to 65535)")
        if db.is_dir():
            raise OversightError(f"--db: {db} is a folder; give a database file")
        if not admin_secret or len(admin_secret) < 8:
            raise OversightError(
                "--admin-secret (or OVERSIGHT_ADMIN_SECRET) of 8 or more characters is needed"
            )
        web = create_app(db, admin_secret, runs)
    console.print(f"judging app on http://{host}:{port}/admin · database {db} · runs {runs}")
    uvicorn.run(web, host=host, port=port, log_level="info")


@app.command()
def repair(
    run_dir: Annotated[Path, typer.Argument(help="A run folder (holds transcripts.jsonl).")],
) -> None:
    """Move torn, corrupt and duplicated transcript lines aside so the run can resume.

    They go to transcripts.rejected.jsonl in the folder; nothing is deleted.
    """
    from oversight.core.runs import REJECTED, RunStore

    with clear_errors():
        store = RunStore(run_dir)
        store.config_yaml()  # refuses a folder that holds no run
        kept, moved = store.repair()
    where = f" to {run_dir / REJECTED}" if moved else ""
    console.print(f"repair: kept {kept} transcripts, moved {moved} lines{where}")


@app.command("train-rm")
def train_rm(
    data: Annotated[Path, typer.Argument(help="Preference JSONL (prompt, chosen, rejected).")],
    model: Annotated[str, typer.Option(help="Hugging Face model folder (or hub name).")],
    out: Annotated[Path, typer.Option(help="Folder for the trained reward model.")],
    steps: Annotated[int, typer.Option(help="Optimizer steps.")] = 100,
    batch_size: Annotated[int, typer.Option(help="Pairs per step.")] = 8,
    learning_rate: Annotated[float, typer.Option(help="Learning rate.")] = 5e-5,
    max_length: Annotated[
        int | None,
        typer.Option(
            help="Tokens per prompt + completion (default: the longest in the data, within the "
            "model's limit); longer sequences lose the start of their prompt."
        ),
    ] = None,
    heldout: Annotated[
        float, typer.Option(help="Share of prompts held out to measure ranking accuracy.")
    ] = 0.2,
) -> None:
    """Train a reward model on preference data with TRL's RewardTrainer (needs the llm extra).

    DATA is what `oversight export` or an llm-debate run writes (preference.jsonl).
    """
    from oversight.experiments.config import validate
    from oversight.learning.hf_reward import RewardTraining, train_reward_model

    with clear_errors():
        settings = validate(
            RewardTraining,
            {
                "steps": steps,
                "batch_size": batch_size,
                "learning_rate": learning_rate,
                "max_length": max_length,
                "heldout": heldout,
            },
        )
        r = train_reward_model(data, model, out, settings)
    console.print(
        f"trained on {r.trained} of {r.pairs} pairs for {r.steps} steps "
        f"({r.heldout} held out; max length {r.max_length} tokens, {r.length_from}; "
        f"{r.truncated} pairs cut from the left to fit; {r.format} rows): "
        f"loss {r.train_loss:.4f}; ranks "
        f"{r.train_accuracy:.1%} of the trained pairs right and {r.heldout_accuracy:.1%} of "
        f"the held-out pairs → {r.out}"
    )


@app.command()
def sweep(
    config: Annotated[
        str | None, typer.Argument(help="A YAML config file or an embedded config's name.")
    ] = None,
    grid: Annotated[
        list[str] | None,
        typer.Option(help="KEY=V1,V2,...: values of one config key (repeat for a grid)."),
    ] = None,
    seeds: Annotated[int, typer.Option(help="Runs per grid point, seeds 0..N-1.")] = 1,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override a key at every point.")
    ] = None,
    metric: Annotated[
        list[str] | None,
        typer.Option(help="A metrics.json key to tabulate and plot (repeat; default: a few)."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Sweep folder (default: a new one under runs/).")
    ] = None,
    workers: Annotated[int, typer.Option(help="Runs at a time (CPUs of a local cluster).")] = 2,
    backend: Annotated[
        str, typer.Option(help="ray, local (a process pool), or auto: Ray when installed.")
    ] = "auto",
    address: Annotated[
        str | None, typer.Option(help="An existing Ray cluster's address (default: local).")
    ] = None,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
) -> None:
    """Run a config at every point of a grid and for several seeds, each run in its own
    folder, and merge them: a table with intervals over seeds and a plot per metric.

    Resumable: run it again with the same --out, and finished runs are skipped.
    """
    from oversight.core.runs import new_run_dir
    from oversight.experiments import sweep as sweeps

    with clear_errors():
        runs = sweeps.plan(config, grid or [], seeds, set_ or [])
        root = out or new_run_dir("runs", "sweep")
        console.print(f"[bold]sweep[/] of {len(runs)} runs → {root}")
        metrics = sweeps.execute(config, runs, root, workers, backend, address, not quiet)
        merged = sweeps.merge(runs, metrics, metric or [])
        sweeps.write(merged, root)
    console.print(rich_table(merged.by_metric()))
    console.print(f"report: {root / 'report.html'}")


@app.command()
def configs() -> None:
    """List the embedded configs, usable by name in place of a file."""
    from oversight.experiments.config import embedded_configs

    for name, path in sorted(embedded_configs().items()):
        console.print(f"{name}\t{path}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()

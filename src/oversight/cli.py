"""The ``oversight`` command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from oversight.core.errors import OversightError
from oversight.report.model import Table as ReportTable
from oversight.report.model import format_cell

app = typer.Typer(
    help="oversight: AI-assisted evaluation (critiques, debate, recursive reward modeling) "
    "and the measurements that tell whether it works.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(width=120)  # the summary table needs about 110 columns


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
) -> None:
    """Run an experiment (default: offense-defense) and write its run folder.

    The folder holds config.yaml, transcripts.jsonl, metrics.json and report.html.
    """
    from oversight.experiments import registry

    try:
        if resume is not None:
            if config or set_ or out:
                raise OversightError(
                    "--resume takes no config, --set or --out: the run folder holds its config"
                )
            exp, cfg, store = registry.resume(resume)
        else:
            exp, cfg, store = registry.start(config, set_ or [], out)
        console.print(f"[bold]{exp.name}[/] → {store.path}")
        analysis = exp.main(cfg, store, not quiet)
    except OversightError as e:
        console.print(f"[red]error:[/] {e}")
        raise typer.Exit(2) from None
    console.print(rich_table(exp.summary(analysis)))
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
    from oversight.envs.programs.dsl import parse
    from oversight.envs.programs.oracle import gold_oracle

    try:
        programs = []
        for path in (reference, artifact):
            if not path.exists():
                raise OversightError(f"no such file: {path}")
            try:
                programs.append(parse(path.read_text(), bits))
            except OversightError as e:
                raise OversightError(f"{path}: {e}") from None
        result = gold_oracle(*programs)
    except OversightError as e:
        console.print(f"[red]error:[/] {e}")
        raise typer.Exit(2) from None
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
) -> None:
    """Export a run's verdicts as reward-model data in TRL's formats.

    Writes preference.jsonl (prompt, chosen, rejected) and unpaired.jsonl
    (prompt, completion, label), labelled by the judge unless --labels gold.
    """
    from typing import cast

    from oversight.learning.export import LabelSource, export_run

    try:
        if labels not in ("judge", "gold"):
            raise OversightError(f"--labels: unknown value {labels!r}; allowed: judge, gold")
        paths = export_run(run_dir, out or run_dir / "export", cast(LabelSource, labels), arm)
    except OversightError as e:
        console.print(f"[red]error:[/] {e}")
        raise typer.Exit(2) from None
    for name, path in paths.items():
        n = sum(1 for line in path.read_text().splitlines() if line.strip())
        console.print(f"{name}: {n} rows → {path}")


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

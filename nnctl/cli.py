"""The ``nnctl`` command line: parse the options, call a command (``nnctl.commands``).

Exit codes: 0 success, 1 a data, model-file or training error, 2 a config or usage
error, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM), 129 hung up (SIGHUP). Errors
are one line on stderr, never a traceback.
Heavy modules (numpy, rich) are imported inside the commands so ``--help`` stays quick.
"""

from __future__ import annotations

import functools
import sys

import click

from .errors import ConfigError, Interrupt, NnctlError, TrainingInterrupted

EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130


def _on_signal(signum, frame) -> None:
    import signal

    raise Interrupt(signum, signal.Signals(signum).name)


def _stop_on_signals() -> None:
    """SIGTERM and SIGHUP stop nnctl as Ctrl-C does: training saves the best model so far,
    a write in progress leaves the old file."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        for s in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, _on_signal)


#: -q, -v and --no-color, given before the command (``nnctl -q train``) or after it.
_DISPLAY = {"quiet": False, "verbose": False, "color": None}


def _set_display(ctx, param, value) -> None:
    if value:
        _DISPLAY[param.name] = False if param.name == "color" else True


def _display_options(f):
    """-q/--quiet, -v/--verbose and --no-color, on the group and on every command."""
    for option in reversed([
        click.option("-q", "--quiet", is_flag=True, expose_value=False, callback=_set_display,
                     help="Nothing on stderr but warnings and errors (stdout, such as --json,"
                     " stays)."),
        click.option("-v", "--verbose", is_flag=True, expose_value=False, callback=_set_display,
                     help="More detail: a progress line per epoch, every column listed."),
        click.option("--no-color", "color", is_flag=True, expose_value=False, callback=_set_display,
                     help="No colour (NO_COLOR in the environment does the same)."),
    ]):
        f = option(f)
    return f


def _reports_errors(command):
    """Turn domain errors into one line on stderr and an exit code."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from . import render

        render.configure(**_DISPLAY)
        _stop_on_signals()
        try:
            try:
                return command(*args, **kwargs)
            except SystemError as e:  # a signal whose handler ran inside a compiled kernel
                if isinstance(e.__cause__, KeyboardInterrupt):
                    raise e.__cause__ from None  # the interrupt it is, answered below
                raise
        except TrainingInterrupted as e:
            render.error(str(e))
            sys.exit(EXIT_INTERRUPTED if e.signum == 2 else 128 + e.signum)
        except Interrupt as e:
            render.error(f"stopped by {e.name}; each output file is complete or as it was")
            sys.exit(128 + e.signum)
        except ConfigError as e:
            render.error(str(e))
            sys.exit(EXIT_USAGE)
        except NnctlError as e:
            render.error(str(e))
            sys.exit(EXIT_ERROR)
        except KeyboardInterrupt:
            render.error("interrupted; each output file is complete or as it was")
            sys.exit(EXIT_INTERRUPTED)
        except MemoryError:
            render.error("out of memory; use smaller layers, a smaller batch_size or less data")
            sys.exit(EXIT_ERROR)
        except OSError as e:
            _output_failed(e)

    return wrapper


def _output_failed(e: OSError) -> None:
    """Writing stdout failed: one line, exit 1. Every file nnctl opens names its own errors
    where it is opened, so what is left is the output (a full disk, a device gone, or a
    reader such as `head` that left early)."""
    from . import render

    # stdout is pointed at /dev/null so that Python's own flush at exit does not complain again.
    _quiet_stdout()
    if isinstance(e, BrokenPipeError):
        message = ("the output's reader closed the pipe before all of it was written"
                   " (broken pipe); write to a file with -o to keep all of it")
    else:
        message = (f"{e.filename or 'stdout'}: cannot write the output"
                   f" ({e.strerror or e}); free some space or send it elsewhere")
    render.error(message)
    sys.exit(EXIT_ERROR)


class _PositiveFinite(click.FloatRange):
    """A float above 0 and finite (``inf`` and ``nan`` are numbers to Python, not rates)."""

    def __init__(self) -> None:
        super().__init__(min=0, min_open=True)

    def convert(self, value, param, ctx):
        import math

        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


def _quiet_stdout() -> None:
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


class _Group(click.Group):
    """click's group, whose usage errors show the user's arguments escaped: an argument
    (a file name caught by a glob) is text from outside, and may hold escape sequences."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        _DISPLAY.update(quiet=False, verbose=False, color=None)  # each run starts plain
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, **extra)
        except click.ClickException as e:
            from .render import safe

            e.message = safe(e.message)
            e.show()
            sys.exit(e.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(EXIT_ERROR)
        except OSError as e:  # --help or --version, written by click before any command
            _output_failed(e)
        sys.exit(code if isinstance(code, int) else 0)


def _version() -> str:
    from . import __version__

    return __version__


@click.group(cls=_Group,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(_version(), prog_name="nnctl")
@_display_options
def main() -> None:
    """Train fully connected neural networks configured in YAML.

    \b
    Examples:
      nnctl train                      # the bundled 3-3-2-1 network on its default data
      nnctl init my-project            # example configs and datasets to start from
      nnctl train configs/iris.yaml --epochs 50
      nnctl shapes configs/iris.yaml -m 2
      nnctl predict runs/iris/1 datasets/iris.csv -o predictions.csv
      nnctl evaluate runs/iris/1 datasets/iris.csv
      nnctl info runs/iris/1
    """


#: A file or folder argument: click completes it in the shell; nnctl checks it itself.
PATH = click.Path()


@main.command()
@click.argument("config", required=False, type=PATH)
@click.option("--epochs", type=click.IntRange(min=1), help="Number of epochs (training.epochs).")
@click.option("--lr", type=_PositiveFinite(), help="Learning rate.")
@click.option("--batch-size", type=click.IntRange(min=1), help="Mini-batch size.")
@click.option("--seed", type=click.IntRange(min=0), help="Seed for initialization, splits and shuffling.")
@click.option("-o", "--output", metavar="MODEL", type=PATH,
              help="Write the model exactly here (and its history beside it) instead of a new"
              " run directory.")
@click.option("--resume", metavar="MODEL", type=PATH,
              help="Continue training from a saved model or run directory.")
@click.option("--set", "assignments", metavar="KEY=VALUE", multiple=True,
              help="Set a config key for this run, by its path: training.optimizer.lr=3e-4,"
              " network.layers[1].units=32 (repeatable; the value is read as YAML).")
@click.option("--folds", metavar="K", type=click.IntRange(2, 1000),
              help="Cross-validate in K folds instead (training.folds): each fold's test"
              " metrics and their mean and std; no model is saved.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON on stdout.")
@_display_options
@_reports_errors
def train(config, epochs, lr, batch_size, seed, output, resume, assignments, folds, as_json) -> None:
    """Train the network of CONFIG (default: the bundled configs/default.yaml).

    Each run gets a new directory, runs/<config name>/<n>/, with the model, the resolved
    config, the history (a row per epoch, written as training goes), the final metrics as
    JSON and, with the plot extra, PNG and SVG plots. Shows a summary, progress, the final
    loss and metrics per split and the loss curves. Ctrl-C stops and saves the best model
    so far.

    \b
    Examples:
      nnctl train
      nnctl train configs/iris.yaml --epochs 200 --lr 0.01
      nnctl train configs/iris.yaml -o iris.npz
      nnctl train --resume runs/iris/1 --epochs 50
      nnctl train configs/iris.yaml --folds 5
      nnctl train configs/iris.yaml --set training.optimizer.lr=3e-4 --set network.layers[1].units=32
    """
    from .commands import train as command

    command.run(config, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, output=output,
                resume=resume, as_json=as_json, folds=folds, assignments=assignments)


@main.command()
@click.argument("config", required=False, type=PATH)
@click.option("-m", "m", type=click.IntRange(min=1), help="Batch size m (default: training.batch_size).")
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON on stdout.")
@_display_options
@_reports_errors
def shapes(config, m, as_json) -> None:
    """Show every tensor's shape per layer for a batch of m samples.

    Z, A, W, b and their gradients dZ, dA, dW, db, with parameter counts, FLOPs of a
    forward and a backward pass, and bytes in the configured dtype. n[0] and n[L] come
    from the data when the config leaves them out.

    \b
    Examples:
      nnctl shapes -m 1
      nnctl shapes configs/iris.yaml --json
    """
    from .commands import shapes as command

    command.run(config, m=m, as_json=as_json)


@main.command()
@click.argument("model", type=PATH)
@click.argument("data", required=False, default="-", type=PATH)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
@_display_options
@_reports_errors
def evaluate(model, data, as_json) -> None:
    """Judge MODEL (a model file or run directory) on the labelled rows of DATA (a file,
    or - for stdin).

    Classification: accuracy, balanced accuracy, per-class precision, recall, F1 and
    support, macro and weighted averages, the confusion matrix, log loss and ROC AUC.
    Regression: MAE, RMSE and R^2 in the target's units. Rows with no target are skipped
    and counted.

    \b
    Examples:
      nnctl evaluate runs/penguins/1 datasets/penguins.csv
      nnctl evaluate cars.npz datasets/cars.csv --json
    """
    from .commands import evaluate as command

    command.run(model, data, as_json=as_json)


@main.command()
@click.argument("model", type=PATH)
@click.argument("csv", required=False, default="-", type=PATH)
@click.option("-o", "--output", metavar="OUT", type=PATH, help="Write the CSV here instead of stdout.")
@_display_options
@_reports_errors
def predict(model, csv, output) -> None:
    """Predict with MODEL (a model file or run directory) on the rows of CSV (a file, or -
    for stdin).

    Feature columns are found by the names saved in the model (other columns, such as
    the target, are passed through). Writes the input rows plus the prediction columns:
    predicted_<target> and, for classes, p_<class> for each class.

    \b
    Examples:
      nnctl predict runs/iris/1 datasets/iris.csv
      cat new_rows.csv | nnctl predict iris.npz - -o predictions.csv
    """
    from .commands import predict as command

    command.run(model, csv, output=output)


@main.command()
@click.argument("model", type=PATH)
@click.option("--json", "as_json", is_flag=True, help="Print everything as JSON on stdout.")
@_display_options
@_reports_errors
def info(model, as_json) -> None:
    """What MODEL (a model file or run directory) is: network, parameters, features and
    their preprocessing, target and classes, training config, final metrics, version,
    creation time and the file's SHA-256.

    \b
    Examples:
      nnctl info runs/iris/1
      nnctl info iris.npz --json
    """
    from .commands import info as command

    command.run(model, as_json=as_json)


@main.command("config")
@click.argument("config", required=False, type=PATH)
@click.option("--json", "as_json", is_flag=True, help="Print it as JSON instead of YAML.")
@_display_options
@_reports_errors
def config_(config, as_json) -> None:
    """Print CONFIG resolved: every key, with the defaults filled in, as YAML that
    'nnctl train' reads back to the same config (default: the bundled default).

    \b
    Examples:
      nnctl config configs/iris.yaml
      nnctl config configs/iris.yaml > iris-full.yaml
    """
    from .commands import config as command

    command.run(config, as_json=as_json)


@main.command()
@_display_options
@_reports_errors
def schema() -> None:
    """Print the JSON Schema of a config file (for editors, validators, CI).

    The bundled configs name it in a '# yaml-language-server: $schema=...' line, so an
    editor with the YAML language server completes and checks keys.

    \b
    Examples:
      nnctl schema > nnctl.schema.json
    """
    from .commands import schema as command

    command.run()


@main.command()
@click.argument("directory", required=False, default=".", type=click.Path(file_okay=False))
@_display_options
@_reports_errors
def init(directory) -> None:
    """Copy the bundled example configs and datasets into DIRECTORY (default: here), to
    start from. Never overwrites: if any of the files exists, nothing is copied.

    \b
    Examples:
      nnctl init my-project && cd my-project && nnctl train configs/iris.yaml
    """
    from .commands import init as command

    command.run(directory)


@main.command()
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print it as JSON (with the sampled curves).")
@click.option("--plot", metavar="FILE", type=PATH,
              help="Also draw f and f' into FILE (.png or .svg; all of them in a grid without"
              " NAME), with the plot extra.")
@_display_options
@_reports_errors
def activations(name, as_json, plot) -> None:
    """The activations a layer may use: each one's function, derivative and range; with
    NAME, also the stable form nnctl computes and f and f' drawn for z in [-4, 4]. --plot
    draws the same curves as an image (pip install 'nnctl[plot]').

    \b
    Examples:
      nnctl activations
      nnctl activations elu
      nnctl activations sigmoid --json
      nnctl activations elu --plot elu.png
      nnctl activations --plot activations.svg
    """
    from .commands import activations as command

    command.run(name, as_json=as_json, plot=plot)


@main.command()
@click.argument("target", metavar="[CONFIG | MODEL]", required=False, type=PATH)
@click.option("--data", metavar="CSV", type=PATH,
              help="Take the rows from this labelled file (default: the training data).")
@click.option("--sample", "sample", metavar="I", type=click.IntRange(min=1),
              help="Explain data row I alone (1 is the first row after the header).")
@click.option("--batch", "batch", metavar="M", type=click.IntRange(min=1),
              help="Explain a batch of the first M labelled rows.")
@click.option("--precision", type=click.IntRange(1, 12), default=4, show_default=True,
              help="Decimals shown (--json gives every number in full).")
@click.option("--json", "as_json", is_flag=True, help="Print every array whole, as JSON.")
@_display_options
@_reports_errors
def explain(target, data, sample, batch, precision, as_json) -> None:
    """One forward and one backward pass of the network on your own rows, equation by
    equation with the numbers: Z = W A + b, A = f(Z), the loss, dZ, dW, db, dA, and the
    update the configured optimizer would make. CONFIG explains its initial weights (as
    training starts), MODEL a trained model or run directory; default: the bundled
    3-3-2-1 network on its first row.

    \b
    Examples:
      nnctl explain
      nnctl explain configs/iris.yaml --batch 4
      nnctl explain runs/iris/1 --sample 17
      nnctl explain runs/iris/1 --json > step.json
    """
    from .commands import explain as command

    command.run(target, data=data, sample=sample, batch=batch, as_json=as_json,
                precision=precision)


@main.command()
@click.argument("target", metavar="[CONFIG | MODEL]", required=False, type=PATH)
@click.option("--data", metavar="CSV", type=PATH,
              help="Take the rows from this labelled file (default: the training data).")
@click.option("--batch", "batch", metavar="M", type=click.IntRange(min=1), default=16,
              show_default=True, help="Check on the first M labelled rows.")
@click.option("--max-entries", metavar="N", type=click.IntRange(min=0), default=1000,
              show_default=True, help="Check at most N entries per tensor (drawn at random,"
              " seed 0); 0 checks every entry.")
@click.option("--eps", type=_PositiveFinite(), default=1e-6, show_default=True,
              help="The finite-difference step.")
@click.option("--json", "as_json", is_flag=True, help="Print the check as JSON on stdout.")
@_display_options
@_reports_errors
def gradcheck(target, data, batch, max_entries, eps, as_json) -> None:
    """Check backpropagation against central finite differences for every parameter (W, b
    and PReLU's slopes) of the network, on a batch of your own rows, in float64: a row
    per tensor with its largest error. Exit 1 when any tensor fails. Entries where a step
    crosses a kink (ReLU's at 0) get no verdict instead of a false failure.

    \b
    Examples:
      nnctl gradcheck
      nnctl gradcheck configs/iris.yaml --batch 32
      nnctl gradcheck runs/iris/1 --json
    """
    from .commands import gradcheck as command

    command.run(target, data=data, batch=batch, max_entries=max_entries, eps=eps,
                as_json=as_json)


@main.command()
@click.argument("model", type=PATH)
@click.option("-o", "--output", metavar="FILE", type=PATH,
              help="Write the ONNX model here (default: beside the model, as <name>.onnx).")
@click.option("--json", "as_json", is_flag=True, help="Print the graph's inputs and outputs as JSON.")
@_display_options
@_reports_errors
def export(model, output, as_json) -> None:
    """Export MODEL (a model file or run directory) as one ONNX graph: imputation, one-hot
    encoding, scaling, every layer and the output (labels and probabilities, or values in
    the target's units), for onnxruntime and other ONNX runtimes. Needs the export extra
    (pip install 'nnctl[export]').

    \b
    Examples:
      nnctl export runs/iris/1
      nnctl export runs/iris/1 -o iris.onnx
    """
    from .commands import export as command

    command.run(model, output=output, as_json=as_json)


@main.command()
@click.argument("sweep_file", metavar="SWEEP", type=PATH)
@click.option("--workers", metavar="N", type=click.IntRange(1, 1024),
              help="Run trials in parallel on a local Dask cluster of N worker processes.")
@click.option("--scheduler", metavar="ADDRESS",
              help="Run trials on the Dask cluster at ADDRESS (tcp://HOST:8786).")
@click.option("--json", "as_json", is_flag=True, help="Print the ranked trials as JSON on stdout.")
@_display_options
@_reports_errors
def sweep(sweep_file, workers, scheduler, as_json) -> None:
    """Search hyperparameters with Optuna: SWEEP is a YAML file naming a base config, a
    space over its keys (ranges or choices), a validation objective and a budget of
    trials. Each trial is a training run of its own; the study is kept in a SQLite file
    beside SWEEP, so running it again adds only the missing trials. Shows the trials
    ranked and writes the best config as SWEEP's name + .best.yaml. Needs the sweep extra
    (pip install 'nnctl[sweep]').

    \b
    Examples:
      nnctl sweep iris-sweep.yaml
      nnctl sweep iris-sweep.yaml --workers 2
      nnctl sweep iris-sweep.yaml --scheduler tcp://10.0.0.5:8786
      nnctl train iris-sweep.best.yaml
    """
    from .commands import sweep as command

    if workers is not None and scheduler is not None:
        raise click.UsageError("give --workers or --scheduler, not both")
    command.run(sweep_file, workers=workers, scheduler=scheduler, as_json=as_json)


@main.command()
@click.argument("run", type=PATH)
@click.option("-o", "--output", metavar="DIR", type=click.Path(file_okay=False),
              help="Write the images into DIR (default: the run directory, or beside the history).")
@_display_options
@_reports_errors
def plot(run, output) -> None:
    """Draw the loss and metric curves of RUN (a run directory or a history CSV) again: in
    the terminal, and as PNG and SVG images with the plot extra (pip install 'nnctl[plot]');
    a classification run also gets its confusion matrix.

    \b
    Examples:
      nnctl plot runs/iris/1
      nnctl plot iris.history.csv -o plots
    """
    from .commands import plot as command

    command.run(run, output=output)


def entry(quick: bool = True) -> None:
    """The ``nnctl`` program (and ``python -m nnctl``): ``main``, then a quick exit.

    Once ``main`` is done every output is written and closed, and what Python's own
    shutdown does next, collecting every object and tearing down each module one by one,
    is nothing a user sees: 0.5 s after a sweep (SQLAlchemy, pandas, matplotlib and Dask
    imported), 0.8 s after one on a local cluster. So the threads still running are
    waited for and the exit handlers run (logging's flush, multiprocessing's and Dask's
    clean-up), as at a normal exit, the standard streams are flushed, and the process
    leaves with ``main``'s exit code. Not ``quick``, or under a profiler or tracer (which
    report after the program), it exits as usual; ``main`` itself, which tests call in
    their own process, always does.
    """
    import atexit
    import os
    import threading

    if not quick or sys.gettrace() is not None or sys.getprofile() is not None:
        main(prog_name="nnctl")
        return
    try:
        main(prog_name="nnctl")
        code = 0
    except SystemExit as e:
        code = e.code
    if code is None:
        code = 0
    elif not isinstance(code, int):  # sys.exit("message"), as Python does with it
        if sys.stderr is not None:
            print(code, file=sys.stderr)
        code = 1
    shutdown = getattr(threading, "_shutdown", None)  # what the interpreter calls first
    if shutdown is not None:
        shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        if stream is None or getattr(stream, "closed", False):
            continue
        try:
            stream.flush()
        except (OSError, ValueError):  # a reader gone: 120, as the interpreter exits then
            code = 120
    os._exit(code & 0xFF)

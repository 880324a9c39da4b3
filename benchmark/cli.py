"""Command line: a thin entry point, the top layer; nothing imports it.

Each command turns its arguments into typed calls of the layers below. Those layers load
torch and Lightning (seconds), so every command imports them inside its own function:
`list`, `--help` and argument errors stay fast (under 100 ms). That is the one reason for
the function-local imports in this file.
"""
from __future__ import annotations

import argparse
import errno
import os
import signal
import sys
import threading

from benchmark import config
from benchmark.errors import ConfigError, MatrixInterrupted, Terminated, signal_number
from benchmark.measurements import MEASUREMENTS
from benchmark.measurements import settings as measurement_settings

DEFAULT_SEEDS = 1
THREADS_HELP = ("torch intra-op threads per training process (default: 1, which trains these RNNs as fast "
                "as more on an idle machine and does not thrash beside other jobs; README, 'Threads'); "
                "0 = torch's default (every core), split between --parallel workers")


def at_least(minimum: int):
    """An argparse type: an integer >= minimum, checked at parse time (before torch loads)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"bad value {text!r}: expected an integer >= {minimum}")
        return value
    parse.__name__ = f"integer >= {minimum}"
    return parse


MAX_THREADS = 1024  # a sanity bound at parse time; this machine's own cores bound what it may use (use_threads)


def thread_count(text: str) -> int:
    """`--threads`: an integer in 0..MAX_THREADS."""
    value = at_least(0)(text)
    if value > MAX_THREADS:
        from benchmark.engine.environment import available_cpus
        raise argparse.ArgumentTypeError(f"bad value {text!r}: expected an integer in 0..{MAX_THREADS} "
                                         f"(at most this machine's cores, {available_cpus()})")
    return value


thread_count.__name__ = "thread count"


def parallel_arg(text: str):
    """`--parallel`: `auto` (chosen from the free cores or GPU memory) or an integer >= 1."""
    if text == "auto":
        return text
    try:
        return at_least(1)(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"bad value {text!r}: expected auto or an integer >= 1") from None


parallel_arg.__name__ = "auto or an integer >= 1"
PARALLEL_HELP = ("cells in flight at once, or auto: as many as the cores idle now (not counting this run's own "
                 "work) hold at --threads each, or on GPUs as many as free memory and utilisation allow, at most 4 "
                 "per GPU; the choice is printed (default: auto; 1 with --launcher ray or slurm, or --devices N)")


def main(argv=None) -> int:
    previous = _handle_signals()  # first: a signal while torch loads is an interrupt too
    try:
        return _main(argv)
    finally:  # a caller that embeds main (tests, notebooks) gets its own handlers back
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _main(argv) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse's own: --help (0) or a bad argument, already printed (2)
        return e.code
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except MatrixInterrupted as e:  # `run`, `reproduce papers`, `measure`: the matrix's finished cells are kept
        print(f"\ninterrupted: {e.kept} cell{'' if e.kept == 1 else 's'} kept in {e.folder}{_by(e)}; run the same "
              f"command to resume",
              file=sys.stderr)
        return 128 + e.signum
    except KeyboardInterrupt as e:
        print(f"\ninterrupted{_by(e)}", file=sys.stderr)
        return 128 + signal_number(e)
    except BrokenPipeError:  # `list | head`: the reader has gone; stop writing, quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as e:  # no space, read-only, not a folder, ...: records are appended whole, so none is lost
        print(f"error: {io_message(e)}", file=sys.stderr)
        return 1


def io_message(e: OSError) -> str:
    """One line for an I/O error: what failed, on which path, and that finished work is safe."""
    path = f"{e.filename}" + (f" -> {e.filename2}" if e.filename2 else "") if e.filename else "a file"
    reason = e.strerror or str(e)
    fix = {errno.ENOSPC: "free some space", errno.EDQUOT: "free some space (disk quota)",
           errno.EFBIG: "the file-size limit (ulimit -f) was reached; raise it",
           errno.EROFS: "choose a writable --out", errno.EACCES: "check its permissions or choose another --out",
           errno.ENOTDIR: "a part of the path is a file, not a folder; choose another --out",
           errno.EEXIST: "a file is in the way; choose another --out"}.get(e.errno, "fix the cause")
    return (f"{reason}: {path}; every cell that finished before this is kept (records are written whole); "
            f"{fix}, then run the same command to resume")


def _handle_signals() -> dict:
    """SIGTERM and SIGHUP end the work as Ctrl-C does: finished cells kept, `interrupted: N cells
    kept`, status 128 + the signal (143, 129), never 0 (Lightning alone would exit 0 on SIGTERM:
    engine/runner.interruptible). SIGXFSZ (past `ulimit -f`) is ignored so the write fails with
    EFBIG, reported as an I/O error, instead of killing the process mid-record. Returns the
    handlers replaced."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        return {}
    previous = {}
    for signum, handler in ((signal.SIGTERM, _terminate), (signal.SIGHUP, _terminate),
                            (signal.SIGXFSZ, signal.SIG_IGN)):
        if signal.getsignal(signum) in (signal.SIG_DFL, None):  # a caller's own handler (or nohup's SIG_IGN) stays
            previous[signum] = signal.signal(signum, handler)
    return previous


def _terminate(signum, frame):
    raise Terminated(signum)


def _by(e: BaseException) -> str:
    signum = signal_number(e)
    return "" if signum == signal.SIGINT else f" by {signal.Signals(signum).name}"


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        """One line, as every other bad input is reported; `--help` shows the usage."""
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")


def _program() -> str:
    """How the user called us: `rnnbench` (the console script) or `python -m benchmark`."""
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return "rnnbench" if name == "rnnbench" else "python -m benchmark"


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog=_program(), description="Benchmark vanilla RNN, LSTM and GRU across tasks, with measurements.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    sub.add_parser("list", help="tasks, model variants, families, backends and profiles").set_defaults(func=cmd_list)

    run = sub.add_parser("run", help="train the matrix of tasks x models x seeds")
    _matrix_arguments(run)
    run.add_argument("--seeds", type=at_least(1), help="seeds 0..N-1 per cell (default: 1)")
    run.add_argument("--config", metavar="FILE.yaml",
                     help="a profile file from anywhere (as configs/profiles/*.yaml), with an optional `run` block "
                          "(tasks, models, backends, seeds, profile) that --print-config writes; --tasks, --models, "
                          "--backend and --seeds given replace the block's, --set applies on top")
    run.add_argument("--print-config", action="store_true",
                     help="print the selection and every resolved setting as one YAML (for --config) and exit: "
                          "nothing trains, nothing is written")
    run.add_argument("--out", help="results folder (default: results/<profile>)")
    run.add_argument("--retry-failed", action="store_true", help="run failed cells again")
    run.add_argument("--launcher", default="local", choices=("local", "ray", "slurm"),
                     help="where cells train: local (this machine), ray (a Ray cluster; pip install "
                          "'.[ray]'), slurm (jobs through submitit; '.[slurm]') (default: local)")
    run.add_argument("--parallel", type=parallel_arg, help=PARALLEL_HELP)
    run.add_argument("--threads", type=thread_count, help=THREADS_HELP)
    run.add_argument("--ray-address", help="join this Ray cluster (default: start a local one)")
    run.add_argument("--devices", type=at_least(1), default=1,
                     help="devices per cell, through Lightning DDP; on a CPU, processes (default: 1)")
    run.add_argument("--wandb", choices=("online", "offline", "disabled"),
                     help="Weights & Biases logging (default: WANDB_MODE if set; disabled when CI is set; "
                          "online with an API key, else offline)")
    run.add_argument("--wandb-project", default="rnnbench", help="W&B project (default: rnnbench)")
    run.set_defaults(func=cmd_run)

    table = sub.add_parser("table", help="comparison tables from a results folder")
    table.add_argument("dir", help="results folder written by `run`")
    table.add_argument("--format", default="md", choices=("md", "csv", "latex", "html", "json"),
                       help="md (default), csv (every row and baseline, raw values), latex, html, or json "
                            "(one object per group)")
    table.set_defaults(func=cmd_table)
    _bench_parser(sub)
    _measurement_parsers(sub)
    _data_parser(sub)
    _sample_parser(sub)
    return p


def _sample_parser(sub) -> None:
    sample = sub.add_parser("sample", help="text generated by a trained char_lm or word_lm cell (train.checkpoint)")
    sample.add_argument("dir", help="results folder written by `run` with --set train.checkpoint=best (or last, both)")
    sample.add_argument("--cell", required=True, metavar="TASK/MODEL/BACKEND/seedN",
                        help="the cell, as `run` prints it: e.g. char_lm/lstm/cudnn/seed0")
    sample.add_argument("--chars", type=at_least(1), default=500,
                        help="tokens to generate: characters for char_lm, words for word_lm (default: 500)")
    sample.add_argument("--temperature", type=float, default=1.0,
                        help="> 0: 1 samples the model's distribution, lower is more conservative (default: 1.0)")
    sample.add_argument("--seed", type=at_least(0), help="seed of the draws: the same seed, the same text "
                                                         "(default: a fresh one each time)")
    sample.add_argument("--prime", default="", help="text the model reads first, printed before what it generates")
    sample.add_argument("--which", choices=("best", "last"),
                        help="the checkpoint: best validation or last (default: best when kept, else last)")
    sample.set_defaults(func=cmd_sample)


def cmd_sample(args) -> int:
    from benchmark.engine import sample

    sample.check_temperature(args.temperature)  # before torch loads
    loaded = sample.load_cell(args.dir, args.cell, args.which)
    tokens = sample.generate(loaded, args.chars, args.temperature, args.seed, args.prime)
    print(sample.render(loaded, tokens, args.prime))
    return 0


def _data_parser(sub) -> None:
    data = sub.add_parser("data", help="your data as the readers see it, without training")
    which = data.add_subparsers(dest="data", metavar="ACTION", required=True)
    check = which.add_parser(
        "check", help="per task: the files or hub ids read, columns, labels and their ids, tag scheme, split sizes, "
                      "sequence lengths, vocabulary; exit 2 with the reader's message when one fails")
    tasks_given = check.add_mutually_exclusive_group()
    tasks_given.add_argument("--all", action="store_true", help="every registered task")
    tasks_given.add_argument("--tasks", help="comma-separated task names (see `list`)")
    check.add_argument("--profile", default="smoke", help="configs/profiles/<name>.yaml (default: smoke)")
    check.add_argument("--data-dir", default=os.environ.get("RNNBENCH_DATA_DIR"),
                       help="folder of local data sets laid out like shared/data (env RNNBENCH_DATA_DIR)")
    check.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                       help="a setting, as for `run`: e.g. sentiment.train_file=mine.jsonl, sentiment.label_column=stars")
    check.set_defaults(func=cmd_data_check)


def cmd_data_check(args) -> int:
    import tasks

    _check_tasks_and_data_dir(args)
    names = None if args.all else config.split_names(args.tasks, tasks.task_names(), "task")
    overrides = config.parse_set(args.set)  # checked before torch loads
    from benchmark.engine.data_check import check
    return check(names, args.profile, overrides, args.data_dir)


def _matrix_arguments(p) -> None:
    """Which cells: shared by `run` and `bench plan`."""
    which = p.add_mutually_exclusive_group()
    which.add_argument("--all", action="store_true", help="every registered task x every model variant")
    which.add_argument("--tasks", help="comma-separated task names (see `list`)")
    p.add_argument("--models", help="comma-separated variants (default: all six)")
    # No defaults here (build_cells fills them in): with `run --config`, a flag given replaces the file's.
    p.add_argument("--backend", help="cudnn (torch fused kernels) or scratch (our cells); "
                                     "comma-separate for both (default: cudnn)")
    p.add_argument("--profile", help="configs/profiles/<name>.yaml (default: smoke; `list` shows them)")
    p.add_argument("--data-dir", default=os.environ.get("RNNBENCH_DATA_DIR"),
                   help="folder of local data sets laid out like shared/data (env RNNBENCH_DATA_DIR)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a config value, e.g. train.lr=0.01, model.hidden=256, copy.delay=50")


def _bench_parser(sub) -> None:
    bench = sub.add_parser("bench", help="speed benchmarks of the harness itself")
    which = bench.add_subparsers(dest="bench", metavar="BENCHMARK", required=True)
    over = which.add_parser("overhead", help="a matrix cell vs a plain PyTorch loop: tokens/s and their ratio")
    over.add_argument("--task", default="copy")
    over.add_argument("--model", default="lstm", help="model variant (default: lstm)")
    over.add_argument("--backend", default="cudnn", help="cudnn or scratch (default: cudnn)")
    over.add_argument("--hidden", type=at_least(1), default=256)
    over.add_argument("--steps", type=at_least(2), default=60, help="training steps per repeat (default: 60)")
    over.add_argument("--repeats", type=at_least(1), default=7, help="timed repeats of each, interleaved (default: 7)")
    over.add_argument("--threads", type=thread_count, help=THREADS_HELP + "; both paths run with the same")
    over.add_argument("--profiler", action="store_true",
                      help="also print torch.profiler's host and device time per step of both paths (one more run "
                           "each, after the timed repeats)")
    over.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                      help="override a config value, e.g. train.batch_size=32, copy.delay=50")
    over.add_argument("--data-dir", default=os.environ.get("RNNBENCH_DATA_DIR"),
                      help="local data sets, for a real-data --task (env RNNBENCH_DATA_DIR)")
    over.set_defaults(func=cmd_bench_overhead)

    back = which.add_parser("backends", help="cudnn vs scratch vs compiled scratch at one size (fastrnns' setting)")
    back.add_argument("--family", default="lstm", metavar="FAMILY[,FAMILY...]",
                      help="one family: every backend and precision; several (e.g. gru,lstm,mingru,minlstm --seq 512): "
                           "each one's fused kernel, sequential step and parallel scan in fp32, against the fused GRU "
                           f"(default: lstm; families: {', '.join(config.families.families())})")
    back.add_argument("--hidden", type=at_least(1), default=512, help="hidden and input size (default: 512)")
    back.add_argument("--batch", type=at_least(1), default=64, help="batch size (default: 64)")
    back.add_argument("--seq", type=at_least(1), default=100, help="sequence length (default: 100)")
    back.add_argument("--repeats", type=at_least(1), default=10, help="timed repeats, median reported (default: 10)")
    back.add_argument("--threads", type=thread_count, help=THREADS_HELP)
    back.set_defaults(func=cmd_bench_backends)

    busy = which.add_parser("busy", help="the same smoke cells alone, then beside an identical run: wall times")
    busy.add_argument("--tasks", default="forecast,sentiment,ner", help="(default: forecast,sentiment,ner)")
    busy.add_argument("--models", default="lstm,gru", help="(default: lstm,gru)")
    busy.add_argument("--profile", default="smoke", help="(default: smoke)")
    busy.add_argument("--threads", type=thread_count, help=THREADS_HELP)
    busy.add_argument("--data-dir", default=os.environ.get("RNNBENCH_DATA_DIR"),
                      help="local data sets, for real-data tasks (env RNNBENCH_DATA_DIR)")
    busy.set_defaults(func=cmd_bench_busy)

    plan = which.add_parser("plan", help="time a few steps of every cell and extrapolate the matrix's wall time")
    _matrix_arguments(plan)
    plan.add_argument("--steps", type=at_least(2), default=6, help="training steps timed per cell (default: 6)")
    plan.add_argument("--seeds", type=at_least(1), default=1,
                      help="seeds per cell, as `run --seeds`: counted, each timed once (default: 1)")
    plan.add_argument("--parallel", type=at_least(1), default=1,
                      help="cells in flight, as `run --parallel`: also print the total divided by it (default: 1)")
    plan.add_argument("--threads", type=thread_count, help=THREADS_HELP)
    plan.set_defaults(func=cmd_bench_plan)

    job = which.add_parser("main", help="the main job, `run --all --profile smoke`, from a fresh process: wall "
                                        "seconds against the target (150 s on 2 cores), pass or fail")
    job.add_argument("--data-dir", default=os.environ.get("RNNBENCH_DATA_DIR"),
                     help="local data sets, passed to run (env RNNBENCH_DATA_DIR)")
    job.add_argument("--parallel", type=parallel_arg, help="passed to run (default: run's own, auto)")
    job.add_argument("--target", type=float, default=150.0, help="seconds to pass (default: 150)")
    job.set_defaults(func=cmd_bench_main)

    table = which.add_parser("table", help="`table` on a folder of N records (copies of the published ones): "
                                           "seconds, a fresh process per run")
    table.add_argument("--records", type=at_least(1), default=1000, help="records in the folder (default: 1000)")
    table.add_argument("--repeats", type=at_least(1), default=5, help="timed runs, median reported (default: 5)")
    table.add_argument("--format", default="md", choices=("md", "csv", "latex", "html", "json"),
                       help="as `table --format` (default: md)")
    table.add_argument("--out", help="write the folder here and keep it (default: a temporary folder, removed)")
    table.set_defaults(func=cmd_bench_table)


def cmd_bench_overhead(args) -> int:
    import tasks
    for value, allowed, what in ((args.task, tasks.task_names(), "task"), (args.model, config.VARIANTS, "model"),
                                 (args.backend, config.BACKENDS, "backend")):
        config.split_names(value, allowed, what)  # before torch loads
    from benchmark.bench import overhead
    from benchmark.engine.environment import use_threads
    use_threads(args.threads)
    return overhead.main(args)


def cmd_bench_backends(args) -> int:
    from benchmark.bench import backends
    from benchmark.engine.environment import use_threads
    use_threads(args.threads)
    return backends.main(args)


def cmd_bench_main(args) -> int:
    from benchmark.bench import main_job
    return main_job.main(args)


def cmd_bench_busy(args) -> int:
    from benchmark.bench import busy
    return busy.main(args)


def cmd_bench_table(args) -> int:
    from benchmark.bench import table
    return table.main(args)


def cmd_bench_plan(args) -> int:
    cells = build_cells(args)
    from benchmark.engine.cells import check_own_files
    check_own_files(cells, args.data_dir)  # as `run` does, before any cell is timed
    from benchmark.bench import plan
    from benchmark.engine.environment import use_threads
    use_threads(args.threads)
    return plan.main(cells, args.steps, args.data_dir, args.parallel)


def cmd_list(args) -> int:
    import tasks  # (~7 ms, `list` alone needs it.) Its catalogue is read from the tasks' source,
    # not imported: importing the task modules loads torch and Lightning (seconds).

    print("tasks:")
    plugins = tasks.plugin_sources()
    catalog = tasks.catalog()
    width = max(12, *map(len, catalog))  # one column for every name, however long
    for name, task in catalog.items():
        plugin = f"; from {plugins[name]}" if name in plugins else ""
        print(f"  {name:<{width}} {task['kind']:<13} {task['description']}{plugin}")
    print("models:")
    for name, (family, bidir) in config.VARIANTS.items():
        print(f"  {name:<12} {family}{', bidirectional' if bidir else ''}")
    print("families:")
    for name, spec in config.families.families().items():
        runs = "fused kernel" if spec.fused else f"no fused kernel (cudnn runs the {spec.implementation('cudnn')})"
        plugin = f"; from {spec.source}" if spec.source.startswith("entry point") else ""
        print(f"  {name:<12} {spec.description}; state {', '.join(spec.state)}; params {spec.closed_form()}/layer; "
              f"{runs}{'; parallel scan' if spec.scan else ''}{plugin}")
    print("backends:")
    for name, note in config.BACKEND_NOTES.items():
        print(f"  {name:<12} {note}")
    # `--profile` names one of three sets, by command: each listed with the commands it belongs to.
    from benchmark.reports.references import presets  # torch-free
    for heading, names in (
            ("profiles (run, bench plan, data check --profile: configs/profiles/<name>.yaml; any file: run --config)",
             config.profiles()),
            ("measurement profiles (measure, reproduce rnn-vs-lstm --profile: blocks of configs/measurements.yaml)",
             map(str, config.load_yaml(measurement_settings.FILE))),
            ("paper presets (reproduce papers --profile: configs/references.yaml; each is a run profile too)",
             presets())):
        print(f"{heading}:")
        for name in names:
            print(f"  {name}")
    return 0


def _check_tasks_and_data_dir(args) -> None:
    if not (args.all or args.tasks):
        raise ConfigError("say which tasks: --all or --tasks a,b (see `python -m benchmark list`)")
    _check_data_dir(args)


def _check_data_dir(args) -> None:
    if args.data_dir and not os.path.isdir(args.data_dir):
        raise ConfigError(f"--data-dir {args.data_dir} is not a folder")


def build_cells(args) -> list:
    """The cells `--all`/`--tasks`, `--models`, `--backend`, `--seeds`, `--profile` (or `run
    --config FILE`, whose `run` block a flag given replaces) and `--set` select."""
    import tasks
    from benchmark.engine import cells

    selection, profile = {}, args.profile or "smoke"
    if getattr(args, "config", None):
        if args.profile:
            raise ConfigError(f"--config {args.config} is the profile (its run.profile names it); drop "
                              f"--profile {args.profile}")
        selection, profile = config.read_config_file(args.config, tasks.task_names())
    if getattr(args, "config", None) and not (args.all or args.tasks or "tasks" in selection):
        raise ConfigError(f"--config {args.config} names no tasks (no run.tasks); say which: --all or --tasks a,b")
    if "tasks" in selection and not (args.all or args.tasks):
        _check_data_dir(args)
    else:
        _check_tasks_and_data_dir(args)
    built = cells.build_cells(None if args.all else [args.tasks] if args.tasks else selection["tasks"],
                              [args.models] if args.models else selection.get("models"),
                              [args.backend] if args.backend else selection.get("backends", ["cudnn"]),
                              getattr(args, "seeds", None) or selection.get("seeds", DEFAULT_SEEDS), profile,
                              config.parse_set(args.set))
    for note in dict.fromkeys(c.model.fallback_note for c in built if c.model.fallback_note):
        print(f"note: {note}; records name it as `implementation`", file=sys.stderr)
    return built


def cmd_run(args) -> int:
    cells = build_cells(args)  # every name and value checked before torch loads
    from benchmark.engine import run_config
    if args.print_config:
        sys.stdout.write(run_config.text(cells))
        return 0
    from benchmark.engine.environment import threads_for, use_threads
    from benchmark.engine.store import ResultsStore
    from benchmark.launchers import run_matrix
    from benchmark.reports.wandb_summary import log_matrix_summary

    if args.launcher == "local":  # Ray's and Slurm's cells train on their machines, with their cores
        use_threads(args.threads)
    out = out_folder(args.out or os.path.join("results", cells[0].profile))
    summary = run_matrix(cells, out, data_dir=args.data_dir, retry_failed=args.retry_failed,
                         launcher=args.launcher, parallel=default_parallel(args), devices=args.devices,
                         threads=threads_for(args.threads), ray_address=args.ray_address, wandb=args.wandb,
                         wandb_project=args.wandb_project, config_text=run_config.text(cells))
    if summary.tracking.enabled:
        log_matrix_summary(summary.tracking, ResultsStore(out).current())
    return _report_run(out, summary)


def default_parallel(args):
    """`--parallel` as given, else auto: this machine's idle cores. One cell at a time where auto would
    count the wrong machine's cores (Ray's, Slurm's) or a cell takes several devices."""
    if args.parallel is not None:
        return args.parallel
    local = getattr(args, "launcher", "local") == "local" and getattr(args, "devices", 1) == 1
    return "auto" if local else 1


def _report_run(out, summary) -> int:
    from benchmark.engine.progress import count, time_breakdown
    from benchmark.engine.store import ResultsStore
    from benchmark.reports.tables import render, summarise

    records = ResultsStore(out).current()
    print()
    print(render(summarise(records), "md"))
    _print_lengths(records, "md")
    print(f"results: {out}/results.jsonl ({count(summary.ran)} run, {summary.skipped} already done or n/a)")
    print(time_breakdown(summary.records))  # this run's cells, not earlier runs' in the same folder
    busy = [r["cell"] for r in summary.records if r.get("contended")]
    if busy:
        print(f"warning: {count(len(busy))} trained while other work took their CPU time (marked '(busy)' in "
              f"the tables); their tokens/s are not this machine's: {', '.join(busy[:5])}"
              f"{' ...' if len(busy) > 5 else ''}", file=sys.stderr)
    for reason, names in skipped_by_reason(summary.skipped_cells).items():  # each reason once
        print(f"skipped {names}: {reason}", file=sys.stderr)
    diverged = getattr(summary, "diverged", [])
    if diverged:  # trained, loss blew up: metrics kept, never best
        print(f"{count(len(diverged))} diverged (metrics kept, never best; run again with --retry-failed):",
              file=sys.stderr)
        for r in diverged:
            print(f"  {r['cell']}: {r.get('reason')}", file=sys.stderr)
    if summary.failed:
        print(f"{count(len(summary.failed))} failed (run again with --retry-failed):", file=sys.stderr)
        for r in summary.failed:
            print(f"  {r['cell']}: {r['error']}", file=sys.stderr)
    return 1 if summary.failed or diverged else 0


def skipped_by_reason(records) -> dict[str, str]:
    """{reason: the cells skipped for it}: "copy/rnn/cudnn/seed0" or "6 cells (smnist/rnn/cudnn/seed0 ...
    smnist/bigru/cudnn/seed0)", so a long reason (the data to put where) is said once."""
    from benchmark.engine.progress import count

    groups = {}
    for r in records:
        groups.setdefault(r.get("reason") or "no reason recorded", []).append(r["cell"])
    return {reason: ", ".join(cells) if len(cells) <= 2 else f"{count(len(cells))} ({cells[0]} ... {cells[-1]})"
            for reason, cells in groups.items()}


def cmd_table(args) -> int:
    from benchmark.engine.store import ResultsStore
    from benchmark.reports.tables import render, summarise

    store = ResultsStore(args.dir)
    if not os.path.lexists(store.path):  # a link there: the store names it
        raise ConfigError(f"{args.dir} holds no results.jsonl: point `table` at a folder written by `run --out`")
    print(render(summarise(store.current()), args.format))
    if args.format not in ("json", "csv"):  # those keep one machine-readable table
        _print_lengths(store.current(), args.format)
    return 0


def _print_lengths(records, fmt: str) -> None:
    """The length-generalisation tables of tasks that scored unseen lengths, if any."""
    from benchmark.reports.render import render
    from benchmark.reports.tables import length_tables

    found = length_tables(records)
    if found:
        print()
        print(render(found, fmt))


def _measurement_parsers(sub) -> None:
    """measure / reproduce / report: the lecture's claims as measured numbers (benchmark.measurements)."""
    def common(p, profile_help="block of configs/measurements.yaml (default: smoke)"):
        p.add_argument("--profile", help=profile_help)
        p.add_argument("--out", help="run folder (default: results/measurements-<profile>)")
        p.add_argument("--threads", type=thread_count, help=THREADS_HELP)
        p.add_argument("--seeds", type=at_least(1), help="seeds per measurement (default: the profile's, 3)")
        p.add_argument("--set", action="append", default=[], metavar="BLOCK.KEY=VALUE",
                       help="override a measurement setting, e.g. memory_span.train.max_steps=2000 "
                            "(blocks and keys: configs/measurements.yaml)")
        p.add_argument("--wandb", choices=("online", "offline", "disabled"), default="disabled",
                       help="log the trained cells and a summary run (tables, figures, results artifact) to W&B; "
                            "online turns offline without a key or server (default: disabled: a measurement "
                            "trains hundreds of cells)")
        p.add_argument("--wandb-project", default="rnnbench", help="W&B project (default: rnnbench)")

    measure = sub.add_parser("measure", help="measure one claim: memory span, gradient flow, speed or parameters")
    measure.add_argument("what", choices=list(MEASUREMENTS))
    common(measure)
    measure.set_defaults(func=cmd_measure)
    reproduce = sub.add_parser(
        "reproduce", help="rnn-vs-lstm: the lecture's table from measurements, with verdicts; papers: published "
                          "results under their own protocols (configs/references.yaml), reproduced or not")
    reproduce.add_argument("table", choices=("rnn-vs-lstm", "papers"))
    common(reproduce, "rnn-vs-lstm: block of configs/measurements.yaml (default: smoke); papers: the preset(s) "
                      "to run, comma-separated (bai2018, zaremba-small, zaremba-medium; default: all); the table "
                      "lists every preset's rows")
    papers = reproduce.add_argument_group("papers only")
    papers.add_argument("--tasks", help="run only these tasks' rows (others stay as they are, or `not run`)")
    papers.add_argument("--models", help="run only these models' rows")
    papers.add_argument("--data-dir", default=os.environ.get("RNNBENCH_DATA_DIR"),
                        help="folder of local data sets laid out like shared/data (env RNNBENCH_DATA_DIR)")
    papers.add_argument("--parallel", type=parallel_arg, help=PARALLEL_HELP)
    reproduce.set_defaults(func=cmd_reproduce)
    report = sub.add_parser("report", help="self-contained HTML report (tables and plots embedded) of a run folder")
    report.add_argument("dir", help="run folder written by `run`, `measure` or `reproduce`")
    report.set_defaults(func=cmd_report)
    wandb_cmd = sub.add_parser("wandb", help="Weights & Biases views of a results folder")
    which = wandb_cmd.add_subparsers(dest="wandb_action", metavar="ACTION", required=True)
    dash = which.add_parser("dashboard", help="a saved workspace of the folder's runs (a section per task: loss and "
                                              "validation curves by family, test metrics and tokens/s per model; a "
                                              "report for `reproduce`); always writes DIR/dashboard.json, saves "
                                              "online with a W&B key")
    dash.add_argument("dir", help="results folder whose cells logged to W&B")
    dash.add_argument("--project", default="rnnbench", help="W&B project of the runs (default: rnnbench)")
    dash.add_argument("--entity", help="W&B entity (default: your default entity)")
    dash.set_defaults(func=cmd_wandb_dashboard)


def _measurement_out(args) -> str:
    return out_folder(args.out or os.path.join("results", f"measurements-{args.profile}"))


def out_folder(path: str) -> str:
    """`--out`, checked before any work: a folder, or a path where one can be made."""
    if os.path.lexists(path) and not os.path.isdir(path):
        raise ConfigError(f"--out {path} is {'a broken link' if os.path.islink(path) else 'a file'}, not a folder; "
                          f"choose another --out")
    return path


def _measurement_profile(args) -> None:
    args.profile = args.profile or "smoke"


def _measurement_settings(args, names) -> dict:
    """The `--set` tree, with the profile and every override checked before torch loads."""
    overrides = config.parse_set(args.set)
    for name in names:
        measurement_settings.load(args.profile, name, args.seeds, overrides)
    return overrides


def cmd_measure(args) -> int:
    _measurement_profile(args)
    overrides = _measurement_settings(args, [MEASUREMENTS[args.what]])
    from benchmark.engine.environment import use_threads
    from benchmark.measurements import measure
    from benchmark.reports import plots
    from benchmark.reports.run_note import write_run_note

    use_threads(args.threads)
    out = _measurement_out(args)
    tracked = _measurement_tracking(args, out)
    result = measure(args.what, args.profile, out, seeds=args.seeds, overrides=overrides, tracking=tracked)
    plots.draw(result, os.path.join(out, result["name"]))
    write_run_note(out, args.profile)
    if result["name"] == "memory_span":
        from benchmark.reports.render import render
        from benchmark.reports.spans import spans_table
        found = spans_table(result)
        print(render([found], "md") if found else "memory-span: no span (no grid cell finished)")
    if tracked is not None:
        import pandas as pd
        from benchmark.reports.wandb_summary import frame_of, log_summary
        log_summary(tracked, "measure", {f"table/{result['name']}": frame_of(pd.DataFrame(result.get("rows", [])))},
                    {}, name=f"{tracked.group}/{result['name']}")
    print(f"results: {out}")
    return 0


def _measurement_tracking(args, out):
    """W&B for `measure`/`reproduce`: planned once for the folder (one group), None when disabled."""
    if args.wandb == "disabled":
        return None
    from benchmark.launchers import tracking
    tracked = tracking.plan(args.wandb, args.wandb_project, out)
    return tracked if tracked.enabled else None


def cmd_reproduce(args) -> int:
    if args.table == "papers":
        return cmd_reproduce_papers(args)
    if args.tasks or args.models or args.parallel is not None:
        raise ConfigError("--tasks, --models and --parallel apply to `reproduce papers` only")
    _measurement_profile(args)
    overrides = _measurement_settings(args, MEASUREMENTS.values())
    from benchmark.engine.environment import use_threads
    from benchmark.reports.rnn_vs_lstm import reproduce

    use_threads(args.threads)
    out = _measurement_out(args)
    return reproduce(args.profile, out, seeds=args.seeds, overrides=overrides, tracking=_measurement_tracking(args, out))


def cmd_reproduce_papers(args) -> int:
    import tasks
    from benchmark.reports.references import presets as known  # torch-free: names checked before torch loads

    presets = config.split_names(args.profile or ",".join(known()), known(), "preset")
    if args.set:
        raise ConfigError("`reproduce papers` runs each paper's protocol as configs/references.yaml states it; "
                          "--set would change it. Run other settings with `run --profile PRESET --set ...`")
    task_names = config.split_names(args.tasks, tasks.task_names(), "task") if args.tasks else None
    models = config.split_names(args.models, config.VARIANTS, "model") if args.models else None
    _check_data_dir(args)
    from benchmark.reports.papers import reproduce  # torch loads only if a cell is left to run

    return reproduce(presets, out_folder(args.out or os.path.join("results", "papers")), seeds=args.seeds or 3, tasks=task_names,
                     models=models, data_dir=args.data_dir, parallel=default_parallel(args), threads=args.threads)


def cmd_report(args) -> int:
    from benchmark.reports.html import write_report

    if not os.path.isdir(args.dir):
        raise ConfigError(f"{args.dir} is not a folder: point `report` at a folder written by `run --out` or `reproduce --out`")
    print(f"report: {write_report(args.dir)}")
    if not os.path.isfile(os.path.join(args.dir, "wandb", "group")):  # never logged to W&B: nothing to upload
        return 0
    from benchmark.launchers import tracking  # loads Lightning: only for folders that logged
    tracked = tracking.reopen(args.dir)  # upload what was just drawn, to the folder's group
    if tracked is not None:
        from benchmark.reports.wandb_summary import log_summary
        log_summary(tracked, "report", {}, {}, name=f"{tracked.group}/report")
    return 0


def cmd_wandb_dashboard(args) -> int:
    if not os.path.isdir(args.dir):
        raise ConfigError(f"{args.dir} is not a folder: point `wandb dashboard` at a results folder written by `run`")
    from benchmark.reports import dashboard
    dashboard.build(args.dir, args.project, args.entity)
    return 0

"""Run an Optuna search over train.py's configs: ``python sweep.py [--search optuna] [--workers N] [override ...]``.

The search space is ``configs/hparams_search/<name>.yaml`` (or a YAML file); every trial is a
``train.py`` run with the given overrides plus its sampled values, in ``<dir>/trials/<number>/``.
The study is kept in ``<dir>/study.journal``: the same command again continues it after a kill,
and workers on other machines join it with the same ``--dir`` (docs/cluster.md).
"""

import argparse
import os
import subprocess
import sys
from pathlib import Path
from typing import List, NoReturn, Optional

from brain_ai.app.cli import INPUT_ERROR_STATUS, fail, quiet_known_warnings, report_errors


class Arguments(argparse.ArgumentParser):
    """argparse whose errors follow brain_ai.app.cli: ``error: <message>`` on stderr, exit status 2."""

    def error(self, message: str) -> NoReturn:
        fail(f"error: {message} (python sweep.py --help lists the options)", INPUT_ERROR_STATUS)


def parse(argv: List[str]) -> argparse.Namespace:
    parser = Arguments(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("overrides", nargs="*", help="train.py overrides that every trial gets (data=digits ...)")
    parser.add_argument(
        "--search", default="optuna", help="search space: a name in configs/hparams_search/ or a .yaml file"
    )
    parser.add_argument(
        "--dir",
        type=Path,
        help="sweep folder (default outputs/sweeps/<search name>); the same folder continues the study",
    )
    parser.add_argument("--workers", type=int, default=1, help="worker processes on this machine (default 1)")
    parser.add_argument("--n-trials", type=int, help="the study's trial budget (default: the search space's n_trials)")
    parser.add_argument(
        "--storage", help="the study's storage: a .journal file or an Optuna database URL (default <dir>/study.journal)"
    )
    parser.add_argument("--study-name", help="the study's name in the storage (default: the search name)")
    parser.add_argument(
        "--worker-index", type=int, default=0, help="this worker's number (offsets the sampler seed by 1000 x index)"
    )
    parser.add_argument(
        "--no-summary", action="store_true", help="leave the summary, best.json and plots to another process"
    )
    args = parser.parse_intermixed_args(argv)
    if args.workers < 1:
        parser.error(f"--workers {args.workers}: allowed: 1 or more")
    if args.n_trials is not None and args.n_trials < 1:
        parser.error(f"--n-trials {args.n_trials}: allowed: 1 or more")
    return args


def worker_command(argv: List[str], index: int) -> List[str]:
    """This command as worker ``index`` of a ``--workers`` sweep: one process, no summary."""
    args, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--workers", "--worker-index"):
            skip = True
        elif not arg.startswith(("--workers=", "--worker-index=")):
            args.append(arg)
    return [sys.executable, str(Path(__file__).resolve()), *args, "--worker-index", str(index), "--no-summary"]


def run_workers(argv: List[str], workers: int) -> int:
    """Start ``workers`` processes on the study, each with a share of the CPU threads; wait for all."""
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))
    procs = [subprocess.Popen(worker_command(argv, i), env=env) for i in range(workers)]
    return max(proc.wait() for proc in procs)


def sweep(argv: List[str]) -> int:
    import dataclasses

    from brain_ai.app.search_space import check_search_space, load_search_space, search_file
    from brain_ai.app.sweep_study import TRIALS_DIR, Sweep, finish, train_composer, trial_config

    args = parse(argv)
    space = load_search_space(args.search)
    if args.n_trials is not None:
        space = dataclasses.replace(space, n_trials=args.n_trials)
    name = search_file(args.search).stem
    sweep_dir = (args.dir or Path("outputs") / "sweeps" / name).expanduser().resolve()
    with train_composer() as compose:
        check_search_space(space, args.overrides, lambda o: trial_config(compose, o, sweep_dir / TRIALS_DIR / "check"))
        study = Sweep(
            space,
            args.overrides,
            sweep_dir,
            args.storage,
            args.study_name or name,
            compose,
            seed_offset=1000 * args.worker_index,
        )
        print(
            f"sweep: study {study.study.study_name!r} in {study.storage_name}: {len(study.study.trials)} trials found, "
            f"budget {space.n_trials}",
            file=sys.stderr,
            flush=True,
        )
        if args.workers > 1:
            status = run_workers(argv, args.workers)
        else:
            study.run()
            status = 0
    if args.no_summary:
        return status
    return max(status, finish(study.study, space.metric, sweep_dir))


def main(argv: Optional[List[str]] = None) -> None:
    with quiet_known_warnings():
        status = report_errors(lambda: sweep(sys.argv[1:] if argv is None else argv))
    raise SystemExit(status)


if __name__ == "__main__":
    main()

"""Optuna studies run by ``sweep.py``: persistent, shared by workers, resumable after a kill.

A sweep folder holds the study (``study.journal``: Optuna's JournalStorage, an append-only file
that processes on one machine or on several machines over a shared file system write together),
one run folder per trial (``trials/<number>/``, a normal ``train.py`` run folder with its
checkpoints, TensorBoard logs and HParams row), the best trial (``best.json``) and Optuna's plots
(``plots/*.png``).

* **Budget**: a worker takes a trial only while the study holds fewer than ``n_trials`` trials that
  count (complete, pruned, running, failed), checked and taken under a lock file
  (``budget.lock``), so workers never overshoot and no trial number is used twice.
* **Resume**: each worker records itself in its trials (``worker`` user attribute,
  ``<host>:<pid>``) and keeps a heartbeat file (``workers/<host>-<pid>``) fresh. A RUNNING trial
  whose worker died (its heartbeat is older than :data:`HEARTBEAT_GRACE_S`, or, on this host, its
  process is gone) is marked FAIL with the user attribute ``requeued`` and its params are
  queued again as a new trial, which the next worker runs: the killed trial no longer counts, so
  the study still ends with ``n_trials`` trials that ran to their end.
* **Failed trials**: a trial that fails (a config error for a sampled combination, a run stopped
  for divergence, a bug) is told to Optuna as FAIL with its message in the user attribute
  ``error``; the study goes on. A pruned trial (:class:`brain_ai.training.trial_pruning.PruneTrial`) is PRUNED.
* **Same study, same space**: the search space (:meth:`SearchSpace.identity`) is stored with the
  study; a sweep with another space on the same storage is refused, naming both.
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
import sys
import threading
import time
import traceback
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

from omegaconf import DictConfig, open_dict

from brain_ai.app.search_space import SearchSpace, identity_text, override
from brain_ai.config import ConfigError
from brain_ai.errors import INPUT_ERRORS, STOPPED_ERRORS

#: the study's journal in the sweep folder (the default storage)
STUDY_FILE = "study.journal"
#: lock file around "count the trials, take the next one" (shared by every worker of the sweep)
BUDGET_LOCK = "budget.lock"
#: the best trial's number, value, params and run folder
BEST_FILE = "best.json"
#: run folders of the trials: ``<sweep>/trials/<number>``
TRIALS_DIR = "trials"
#: heartbeat files of the live workers
WORKERS_DIR = "workers"
#: Optuna's figures written at the end, ``plots/<name>.png``
PLOTS_DIR = "plots"
#: seconds between two touches of a worker's heartbeat file
HEARTBEAT_S = 10.0
#: a worker on another host whose heartbeat is older than this is taken for dead
HEARTBEAT_GRACE_S = 120.0
#: study user attribute that holds the search space (:func:`identity_text`)
SPACE_ATTR = "search_space"
#: exit status of a sweep in which a trial failed (as for ``train.py -m``)
SWEEP_FAILED_STATUS = 1


def this_worker() -> str:
    """``<host>:<pid>`` of this process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def open_storage(sweep_dir: Path, storage: Optional[str]) -> Any:
    """The study's storage: ``<sweep_dir>/study.journal`` by default, another ``.journal`` file, or an
    Optuna database URL (``sqlite:///...``, ``postgresql://...``)."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

    if storage and "://" in storage:
        return storage
    path = Path(storage).expanduser() if storage else sweep_dir / STUDY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    # an open(O_EXCL) lock works on NFS too (the symlink lock, Optuna's default, needs symlinks)
    return JournalStorage(JournalFileBackend(str(path), lock_obj=JournalFileOpenLock(str(path) + ".lock")))


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold the lock file ``path`` (an ``open(O_EXCL)`` lock: other processes and hosts wait;
    one left by a killed process is taken over after 30 s)."""
    from optuna.storages.journal import JournalFileOpenLock

    lock = JournalFileOpenLock(str(path))
    lock.acquire()
    try:
        yield
    finally:
        lock.release()


class Heartbeat:
    """Keep ``<sweep>/workers/<host>-<pid>`` fresh every :data:`HEARTBEAT_S` seconds while in the block."""

    def __init__(self, sweep_dir: Path, worker: str) -> None:
        self.path = heartbeat_file(sweep_dir, worker)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            self.path.touch()

    def __enter__(self) -> "Heartbeat":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch()
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.path.unlink(missing_ok=True)


def heartbeat_file(sweep_dir: Path, worker: str) -> Path:
    return sweep_dir / WORKERS_DIR / worker.replace(":", "-")


def worker_alive(sweep_dir: Path, worker: str) -> bool:
    """Whether ``worker`` (``<host>:<pid>``) still runs: its heartbeat file is younger than
    :data:`HEARTBEAT_GRACE_S` and, on this host, its process exists (a killed worker is seen at once)."""
    host, _, pid = worker.rpartition(":")
    try:
        fresh = time.time() - heartbeat_file(sweep_dir, worker).stat().st_mtime < HEARTBEAT_GRACE_S
    except OSError:  # no heartbeat file: the worker ended or never started beating
        return False
    if fresh and host == socket.gethostname():
        try:
            os.kill(int(pid), 0)
        except (ProcessLookupError, ValueError):
            return False
        except PermissionError:  # another user's process
            pass
    return fresh


def requeue_dead_trials(study: Any, sweep_dir: Path) -> List[int]:
    """Mark the RUNNING trials of dead workers FAIL (``requeued``) and queue their params again;
    returns their numbers. Call under the budget lock."""
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    storage = study._storage  # Optuna offers no public call that fails another process's trial
    requeued = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = trial.user_attrs.get("worker")
        if worker is None or worker_alive(sweep_dir, worker):
            continue
        try:
            storage.set_trial_user_attr(
                trial._trial_id, "error", f"worker {worker} died while the trial ran; its params were queued again"
            )
            storage.set_trial_user_attr(trial._trial_id, "requeued", True)
            storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
        except UpdateFinishedTrialError:  # another worker got there first
            continue
        study.enqueue_trial(trial.params, user_attrs={"requeued_from": trial.number})
        requeued.append(trial.number)
    return requeued


def counts_toward_budget(trial: Any) -> bool:
    """Complete, pruned, running and failed trials count toward ``n_trials``; queued ones and
    those that a dead worker left (requeued) do not."""
    from optuna.trial import TrialState

    if trial.state is TrialState.FAIL:
        return not trial.user_attrs.get("requeued", False)
    return trial.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)


def check_same_space(study: Any, storage_name: str, identity: str) -> None:
    """Store ``identity`` with a new study; refuse a study that another search space wrote."""
    stored = study.user_attrs.get(SPACE_ATTR)
    if stored is None:
        study.set_user_attr(SPACE_ATTR, identity)
    elif stored != identity:
        raise ConfigError(
            f"study {study.study_name!r} in {storage_name} was written by a sweep with another search space:\n"
            f"  the study's:  {stored}\n  this sweep's: {identity}\n"
            "run this search in another sweep folder (--dir) or under another --study-name"
        )


class Sweep:
    """One worker's view of a study: opens it, takes trials within the budget and runs them.

    Args:
        space: the search space.
        overrides: the overrides every trial gets (``data=digits ...``).
        sweep_dir: the sweep folder (trial run folders, lock, heartbeats, default storage).
        storage: ``--storage`` (None: ``<sweep_dir>/study.journal``).
        study_name: the study's name in the storage.
        compose: ``compose(overrides)``: ``configs/train.yaml`` composed (:func:`train_composer`).
        seed_offset: the worker's offset of the sampler seed (``--worker-index`` times 1000).
    """

    def __init__(
        self,
        space: SearchSpace,
        overrides: Sequence[str],
        sweep_dir: Path,
        storage: Optional[str],
        study_name: str,
        compose: Callable[[Sequence[str]], DictConfig],
        seed_offset: int = 0,
    ) -> None:
        import optuna

        self.space = space
        self.overrides = list(overrides)
        self.sweep_dir = sweep_dir
        self.compose = compose
        self.worker = this_worker()
        self.storage_name = storage or str(sweep_dir / STUDY_FILE)
        storage_obj = open_storage(sweep_dir, storage)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(
            storage=storage_obj, study_name=study_name, direction=space.direction, load_if_exists=True
        )
        with file_lock(sweep_dir / BUDGET_LOCK):
            check_same_space(study, self.storage_name, identity_text(space.identity(self.overrides)))
            found = len(study.get_trials(deepcopy=False))
        # a resumed or extra worker must not replay the random stream of the trials already run
        seed = None if space.sampler.seed is None else space.sampler.seed + seed_offset + found
        self.study = optuna.load_study(
            study_name=study_name, storage=storage_obj, sampler=space.sampler.build(seed), pruner=space.pruner.build()
        )

    def next_trial(self) -> Optional[Any]:
        """A new (or requeued) RUNNING trial of this worker, or None when the budget is used up."""
        with file_lock(self.sweep_dir / BUDGET_LOCK):
            for number in requeue_dead_trials(self.study, self.sweep_dir):
                print(
                    f"sweep: trial #{number}'s worker died while it ran: marked failed, its params queued again",
                    file=sys.stderr,
                )
            if sum(counts_toward_budget(t) for t in self.study.get_trials(deepcopy=False)) >= self.space.n_trials:
                return None
            trial = self.study.ask()
            trial.set_user_attr("worker", self.worker)
            return trial

    def run(self) -> None:
        """Run trials until the study holds ``n_trials`` that count (:func:`counts_toward_budget`)."""
        with Heartbeat(self.sweep_dir, self.worker):
            while (trial := self.next_trial()) is not None:
                self.run_trial(trial)

    def run_trial(self, trial: Any) -> None:
        """Train one trial in ``trials/<number>/`` and tell Optuna its value, PRUNED or FAIL (+ ``error``)."""
        import optuna
        from optuna.trial import TrialState

        from brain_ai.app.cli import message_of
        from brain_ai.app.pipeline import optimized_value, train
        from brain_ai.training.trial_pruning import PruneTrial

        params = {key: spec.suggest(trial, key) for key, spec in self.space.params.items()}
        run_dir = self.sweep_dir / TRIALS_DIR / str(trial.number)
        trial.set_user_attr("run_dir", str(run_dir))
        shown = " ".join(override(k, v) for k, v in params.items())
        print(f"sweep: trial #{trial.number}: {shown}", file=sys.stderr, flush=True)
        trial_overrides = [
            *self.overrides,
            f"optimized_metric={self.space.metric}",
            f"optimized_mode={self.space.mode}",
            *(override(k, v) for k, v in params.items()),
        ]
        error = None
        try:
            cfg = trial_config(self.compose, trial_overrides, run_dir)
            value = optimized_value(cfg, train(cfg, extra_callbacks=[PruneTrial(trial, self.space.metric)]))
            if value is None or not math.isfinite(value):
                error = f"error: {self.space.metric}={value} (not a finite number)"
        except optuna.TrialPruned as pruned:
            print(f"sweep: trial #{trial.number} {pruned}", file=sys.stderr, flush=True)
            self.study.tell(trial, state=TrialState.PRUNED)
            return
        except INPUT_ERRORS as err:
            error = f"error: {message_of(err)}"
        except STOPPED_ERRORS as err:
            error = f"training stopped: {message_of(err)}"
        except Exception as err:  # a bug: keep its traceback, and go on with the study
            traceback.print_exc()
            error = f"{type(err).__name__}: {err}"
        if error is not None:
            print(f"sweep: trial #{trial.number} failed: {error}", file=sys.stderr, flush=True)
            trial.set_user_attr("error", error)
            self.study.tell(trial, state=TrialState.FAIL)
        else:
            self.study.tell(trial, value)


@contextlib.contextmanager
def train_composer() -> Iterator[Callable[[Sequence[str]], DictConfig]]:
    """In the block: ``compose(overrides)``, ``configs/train.yaml`` composed as ``train.py`` would
    (Hydra's compose API, with the ``hydra`` node)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from brain_ai.config.hydra_store import register_configs
    from brain_ai.config.keys import CONFIG_DIR

    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        yield lambda overrides: compose("train", overrides=list(overrides), return_hydra_config=True)


def trial_config(compose: Callable[[Sequence[str]], DictConfig], overrides: Sequence[str], run_dir: Path) -> DictConfig:
    """``compose(overrides)`` as Hydra would run it in ``run_dir``: ``hydra.runtime.output_dir`` set and
    the config made Hydra's current one (``${hydra:...}``, the HParams row's command-line keys)."""
    from hydra.core.hydra_config import HydraConfig

    cfg = compose([*overrides, f"hydra.run.dir={run_dir}"])
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(run_dir)
        cfg.hydra.job.name = "train"
    HydraConfig.instance().set_config(cfg)
    return cfg


def summary(study: Any, metric: str) -> Dict[str, Any]:
    """The study's trials by state, its failed trials' messages and its best trial (None if none completed)."""
    from optuna.trial import TrialState

    trials = [t for t in study.get_trials(deepcopy=False) if counts_toward_budget(t)]
    failed = [t for t in trials if t.state is TrialState.FAIL]
    complete = [t for t in trials if t.state is TrialState.COMPLETE]
    best = None
    if complete:
        b = study.best_trial
        best = {"number": b.number, metric: b.value, "params": b.params, "run_dir": b.user_attrs.get("run_dir")}
    return {
        "trials": len(trials),
        "complete": len(complete),
        "pruned": sum(t.state is TrialState.PRUNED for t in trials),
        "failed": {t.number: t.user_attrs.get("error", "(no message)") for t in failed},
        "best": best,
    }


def summary_text(result: Dict[str, Any], metric: str) -> str:
    lines = [
        f"sweep: {result['trials']} trials: {result['complete']} complete, {result['pruned']} pruned, "
        f"{len(result['failed'])} failed"
    ]
    lines += [f"  #{number} FAILED: {message}" for number, message in result["failed"].items()]
    best = result["best"]
    if best:
        lines.append(f"best: trial #{best['number']} {metric}={best[metric]:.6g} {best['params']} ({best['run_dir']})")
    else:
        lines.append("best: none (no trial completed)")
    return "\n".join(lines)


def write_plots(study: Any, folder: Path) -> Dict[str, str]:
    """Optuna's optimization history, parallel coordinates and param importances as PNGs in ``folder``
    (matplotlib backend); returns ``{name: file or why it was not drawn}``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna.visualization.matplotlib as vis
    from optuna.exceptions import ExperimentalWarning

    plots = {
        "optimization_history": vis.plot_optimization_history,
        "parallel_coordinate": vis.plot_parallel_coordinate,
        "param_importances": vis.plot_param_importances,
    }
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, plot in plots.items():
        target = folder / f"{name}.png"
        try:
            with warnings.catch_warnings():  # Optuna marks its matplotlib plots experimental; matplotlib notes
                warnings.simplefilter("ignore", ExperimentalWarning)  # degenerate axes (trials of one value)
                warnings.simplefilter("ignore", UserWarning)
                ax = plot(study)
        except (ValueError, RuntimeError, ZeroDivisionError) as err:  # too few complete trials for this plot
            written[name] = f"not drawn: {err}"
            continue
        figure = (ax.flat[0] if hasattr(ax, "flat") else ax).get_figure()
        figure.set_size_inches(10, 6)
        temporary = target.with_suffix(f".{os.getpid()}.png")  # workers ending together: the last rename wins
        figure.savefig(temporary, dpi=100, bbox_inches="tight")
        plt.close(figure)
        os.replace(temporary, target)
        written[name] = str(target)
    return written


def finish(study: Any, metric: str, sweep_dir: Path) -> int:
    """Print the summary, write ``best.json`` and the plots; the exit status: 1 if a trial failed."""
    from brain_ai.app.safe_files import write_json_atomic

    result = summary(study, metric)
    write_json_atomic(sweep_dir / BEST_FILE, result, field=BEST_FILE)
    if result["best"] is None:
        print("sweep: no plots (no trial completed)", file=sys.stderr)
    else:
        for name, where in write_plots(study, sweep_dir / PLOTS_DIR).items():
            if where.startswith("not drawn"):
                print(f"sweep: plot {name} {where}", file=sys.stderr)
    print(summary_text(result, metric), file=sys.stderr, flush=True)
    return SWEEP_FAILED_STATUS if result["failed"] else 0

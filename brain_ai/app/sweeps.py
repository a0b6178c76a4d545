"""Sweeps that survive their jobs: a failed job of a ``-m`` run is recorded and the others run.

Inside a multirun job, :func:`brain_ai.app.cli.fail` raises :class:`brain_ai.errors.JobFailed` (after
printing the job's one ``error:`` / ``training stopped:`` line) instead of ``SystemExit``, which
would bypass the sweeper and end the whole sweep. Hydra's ``run_job`` then hands the sweeper a
failed job; the Hydra callback :class:`SweepReport` (``configs/hydra/default.yaml``) records every
job's outcome in a :class:`SweepLedger` and, with ``mark_failed_done`` (the basic grid sweeper,
which would otherwise re-raise the first failure after the batch), hands a failed job on as done
with no value. (Optuna searches run through ``sweep.py`` instead: :mod:`brain_ai.sweep_study`.)

When the sweep ends, :meth:`SweepLedger.finish` prints one line per job (its number, overrides and
failure message) and exits with status 1 if any job failed. A job that failed on an unexpected
exception (a bug, not a reported error) also gets its traceback printed. Jobs that a launcher runs
in other processes (``hydra/launcher=slurm``) are left to that launcher: their callbacks run there.
"""

from __future__ import annotations

import os
import sys
import traceback
from dataclasses import dataclass
from typing import Any, List, Optional, Tuple

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from brain_ai.errors import JobFailed

#: exit status of a sweep in which at least one job failed
SWEEP_FAILED_STATUS = 1


@dataclass(frozen=True)
class JobOutcome:
    """One finished job: its number in the sweep, its overrides, and its failure (None: succeeded)."""

    number: int
    overrides: Tuple[str, ...]
    error: Optional[str]


class SweepLedger:
    """The outcomes of a sweep's jobs, in launch order."""

    def __init__(self) -> None:
        self.outcomes: List[JobOutcome] = []

    @property
    def failed(self) -> List[JobOutcome]:
        return [o for o in self.outcomes if o.error is not None]

    @property
    def succeeded(self) -> List[JobOutcome]:
        return [o for o in self.outcomes if o.error is None]

    def record(self, ret: JobReturn, number: int) -> None:
        error = None
        if ret.status is JobStatus.FAILED:
            exc = ret._return_value  # the job's exception (JobReturn.return_value would re-raise it)
            if isinstance(exc, JobFailed):
                error = str(exc)
            else:  # a bug: keep its traceback
                traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
                error = f"{type(exc).__name__}: {exc}"
        self.outcomes.append(JobOutcome(number, tuple(ret.overrides or ()), error))

    def summary(self) -> str:
        """``sweep: N of M jobs failed`` and one line per job, naming the overrides that differ between jobs."""
        shared = set.intersection(*(set(o.overrides) for o in self.outcomes)) if len(self.outcomes) > 1 else set()
        head = (
            f"sweep: {len(self.failed)} of {len(self.outcomes)} jobs failed"
            if self.failed
            else f"sweep: all {len(self.outcomes)} jobs succeeded"
        )
        lines = []
        for o in self.outcomes:
            own = " ".join(v for v in o.overrides if v not in shared) or "(no overrides of its own)"
            lines.append(f"  #{o.number} {own}: {'succeeded' if o.error is None else 'FAILED: ' + o.error}")
        return "\n".join([head, *lines])

    def finish(self) -> None:
        """Print the summary; exit with :data:`SWEEP_FAILED_STATUS` if any job failed."""
        print(self.summary(), file=sys.stderr, flush=True)
        if self.failed:
            raise SystemExit(SWEEP_FAILED_STATUS)


class SweepReport(Callback):
    """Hydra callback: the ledger of a multirun's jobs, its summary and exit status.

    Args:
        mark_failed_done: hand a failed job on to the sweeper as done (value None), so that Hydra's
            basic sweeper runs the remaining batches and does not re-raise the failure; false for
            a sweeper that handles failed jobs itself.
    """

    def __init__(self, mark_failed_done: bool = True) -> None:
        self.mark_failed_done = mark_failed_done
        self.ledger: Optional[SweepLedger] = None
        self._sweep_pid: Optional[int] = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.ledger = SweepLedger()
        self._sweep_pid = os.getpid()

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if self.ledger is None or os.getpid() != self._sweep_pid:  # a single run, or a job in a launcher's process
            return
        self.ledger.record(job_return, int(config.hydra.job.num))
        if job_return.status is JobStatus.FAILED and self.mark_failed_done:
            job_return.status, job_return.return_value = JobStatus.COMPLETED, None

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if self.ledger is not None:
            self.ledger.finish()

"""What ``train.py`` / ``evaluate.py`` / ``export.py`` do around Hydra: one clear message per bad input.

* before Hydra composes: :func:`brain_ai.config.keys.check_overrides` (unknown keys, with or
  without ``+``, name the closest valid key; top-level settings of the wrong type), and Hydra's
  :data:`REFUSED_FLAGS` are refused;
* around the task: config and input errors (:data:`brain_ai.errors.INPUT_ERRORS`) print
  ``error: <message>`` on stderr without a traceback and exit with status 2; runs stopped by a
  guard (:data:`brain_ai.errors.STOPPED_ERRORS`) print ``training stopped: <message>`` and exit 1.
  A Ctrl-C (SIGINT) prints ``interrupted: ...`` (when and where the last checkpoint is, for a
  training run) and exits with status 130, also inside a sweep, which it ends.
  Anything else is a bug and keeps its traceback. In a job of a ``-m`` sweep the message is
  printed the same way, but :class:`brain_ai.errors.JobFailed` is raised instead of exiting, so
  the sweeper records the failed job and runs the others (:mod:`brain_ai.app.sweeps`).
* :func:`quiet_known_warnings`: third-party warnings a user cannot act on are silenced inside
  the entry points only (``with`` block); importing brain_ai installs no warnings filter.
* :func:`route_lightning_logs`: each Lightning log line printed once, through the handlers that
  Hydra's job logging gave the root logger (console and ``<run dir>/<task>.log``), less
  :data:`LIGHTNING_ADVERTS`.
"""

from __future__ import annotations

import logging
import re
import sys
import warnings
from contextlib import contextmanager
from typing import Callable, Iterator, NoReturn, Sequence, TypeVar

from brain_ai.errors import INPUT_ERRORS, STOPPED_ERRORS, JobFailed

T = TypeVar("T")

#: exit status of a config / input error (a run stopped by a guard exits with 1)
INPUT_ERROR_STATUS = 2
#: exit status of a run interrupted by Ctrl-C (SIGINT): 128 + 2, the shell's convention
INTERRUPTED_STATUS = 130

#: messages of third-party warnings silenced by :func:`quiet_known_warnings`: Lightning 2.6 under
#: torch >= 2.10 warns about its own use of a torch pytree API on every run
KNOWN_WARNINGS = (r".*isinstance\(treespec, LeafSpec\)` is deprecated.*",)

#: Lightning INFO lines that advertise a product or announce that our own model summary replaced
#: Lightning's default one: dropped by :func:`route_lightning_logs` (regular expressions, matched
#: at the start of the message)
LIGHTNING_ADVERTS = (r"💡 Tip:", r"Trainer already configured with model summary callbacks")
#: the loggers that Lightning's ``rank_zero_info`` lines come from
_RANK_ZERO_LOGGERS = ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero")
#: the loggers that ``import lightning`` gives console handlers of their own
_LIGHTNING_LOGGERS = ("lightning", "lightning.pytorch", "lightning.fabric")


def in_multirun_job() -> bool:
    """True inside a job of a Hydra multirun (``-m``) sweep."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode is RunMode.MULTIRUN


def fail(message: str, status: int) -> NoReturn:
    """Print ``message`` on stderr and exit with ``status`` (in a sweep's job: raise JobFailed)."""
    print(message, file=sys.stderr, flush=True)
    if in_multirun_job():
        raise JobFailed(message, status)
    raise SystemExit(status)


#: Hydra command-line flags the entry points do not offer -> why
REFUSED_FLAGS = {
    "--experimental-rerun": "it unpickles <run dir>/.hydra/config.pickle, and a pickle can run any code; "
    "rerun with the overrides listed in <run dir>/.hydra/overrides.yaml instead",
}


def check_command_line(argv: Sequence[str], config_name: str) -> None:
    """Exit with one message if an override names an unknown key or a value of the wrong type, or
    a flag is refused (:data:`REFUSED_FLAGS`); run before ``@hydra.main``."""
    from brain_ai.config.keys import check_overrides

    for arg in argv:
        flag = arg.split("=", 1)[0]
        if flag in REFUSED_FLAGS:
            fail(f"error: {flag} is not offered: {REFUSED_FLAGS[flag]}", INPUT_ERROR_STATUS)
    try:
        check_overrides(argv, config_name)
    except INPUT_ERRORS as err:
        fail(f"error: {err}", INPUT_ERROR_STATUS)


def report_errors(task: Callable[[], T]) -> T:
    """Run ``task``; input errors, stopped and interrupted runs become one message and an exit status."""
    try:
        return task()
    except INPUT_ERRORS as err:
        fail(f"error: {message_of(err)}", INPUT_ERROR_STATUS)
    except STOPPED_ERRORS as err:
        fail(f"training stopped: {message_of(err)}", 1)
    except KeyboardInterrupt as err:  # ends a sweep too: never a JobFailed
        print(f"interrupted: {str(err) or 'Ctrl-C (SIGINT)'}", file=sys.stderr, flush=True)
        raise SystemExit(INTERRUPTED_STATUS) from None


def message_of(err: BaseException) -> str:
    """The error's message. An error raised in a DataLoader worker (a bad data file read with
    ``data.num_workers > 0``) reaches the main process as ``Caught <type> in DataLoader worker
    process N. Original Traceback ...: <message>``: only its last line's message is kept."""
    text = str(err)
    if text.startswith("Caught ") and "Original Traceback" in text:
        last = text.rstrip().splitlines()[-1]
        return last.split(": ", 1)[1] if ": " in last else last
    return text


@contextmanager
def quiet_known_warnings() -> Iterator[None]:
    """Ignore :data:`KNOWN_WARNINGS` inside the block; the previous filters are restored after."""
    with warnings.catch_warnings():
        for message in KNOWN_WARNINGS:
            warnings.filterwarnings("ignore", message=message)
        yield


class _DropAdverts(logging.Filter):
    """Drop the records whose message starts like one of :data:`LIGHTNING_ADVERTS`."""

    pattern = re.compile("|".join(LIGHTNING_ADVERTS))

    def filter(self, record: logging.LogRecord) -> bool:
        return not self.pattern.match(record.getMessage())


def route_lightning_logs() -> None:
    """Let Lightning's log lines reach the console once, through the root logger's handlers.

    ``import lightning`` adds a console handler of its own to the ``lightning`` logger, and
    ``lightning.pytorch`` / ``lightning.fabric`` add one more and stop propagating when the root
    logger has no handler yet. Under Hydra the root logger has its handlers (console and the run's
    log file) once the job starts, so a line was printed twice when Lightning was imported after
    that (plain ``python train.py``), and printed without the run's format and kept out of the
    log file when an override such as ``trainer.max_epochs=2`` imported it before. Call this in an
    entry point after Lightning is imported (idempotent); outside Hydra (tests, notebooks) leave
    Lightning's handlers alone.
    """
    import lightning  # noqa: F401 (its import adds the handlers removed here)

    for name in _LIGHTNING_LOGGERS:
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.propagate = True
    for name in _RANK_ZERO_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropAdverts) for f in logger.filters):
            logger.addFilter(_DropAdverts())

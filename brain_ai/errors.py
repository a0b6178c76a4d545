"""Errors that end a run with one clear message (``brain_ai.app.cli`` prints them without a traceback).

:class:`brain_ai.config.ConfigError` (a bad config value) is the base of the input errors;
:class:`InputFileError` adds files named by the config; :class:`TrainingStopped` is a run that was
stopped because it cannot learn (divergence, dead network); :class:`TrainingInterrupted` one stopped
by the user (Ctrl-C).
"""

from __future__ import annotations

from brain_ai.config import ConfigError


class InputFileError(ConfigError):
    """A file or folder named by the config (checkpoint, data file, output folder) is unusable.

    The message names the path and what was expected there.
    """


class JobFailed(Exception):
    """A job of a multirun sweep ended with a reported error; the message is the line already printed
    (``error: ...`` or ``training stopped: ...``) and ``status`` the exit status a single run would have.

    Raised instead of ``SystemExit`` so that the sweeper records the failure and runs the other jobs
    (:mod:`brain_ai.app.sweeps`).
    """

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class TrainingInterrupted(KeyboardInterrupt):
    """The user interrupted training (Ctrl-C, SIGINT); the message says when and names the last checkpoint."""


class TrainingStopped(RuntimeError):
    """Training was stopped because the model cannot learn; the message names the cause and what to try."""


#: errors caused by the user's input: printed as one message, exit code 2
INPUT_ERRORS = (ConfigError, FileNotFoundError)
#: runs stopped by a guard (non-finite loss, divergence, dead network): one message, exit code 1
STOPPED_ERRORS = (TrainingStopped, FloatingPointError)

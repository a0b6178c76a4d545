"""Every shell command of the README and the docs runs as written (at small sizes).

The fenced ``bash`` / ``sh`` / ``shell`` / ``console`` blocks of ``README.md`` and ``docs/**/*.md``
are read line by line; each distinct command runs once, in a fresh folder per block (the commands of one block
in order, so an ``export.py`` output feeds the ``evaluate.py`` line after it), the blocks in
parallel, and must exit with status 0.

Sizes: every ``train.py`` command gets :data:`SIZE_OVERRIDES` appended (one epoch of two small
batches; Hydra lets the last value win), plus :data:`EXTRA_SIZE` where the command holds its key. Placeholders (:data:`PLACEHOLDERS`, e.g. ``outputs/train/runs/<date_time>``)
point at one tiny default run trained first. A command that cannot run here (GPU, SLURM, a
download, a server, the virtualenv itself) is listed in :data:`NOT_RUN` with the reason; every
other command, a new one included, runs.
"""

from __future__ import annotations

import concurrent.futures
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import pytest
from framework_helpers import REPO
from script_server import ScriptRunner

SHELL_LANGUAGES = ("bash", "sh", "shell", "console")
PAGES = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]

#: appended to every ``train.py`` command: one epoch of two batches of at most 64 samples; the
#: dead-network check, whose verdict needs its first callbacks.health.dead_steps steps, is off
SIZE_OVERRIDES = (
    "trainer.max_epochs=1",
    "data.limit_train=64",
    "++trainer.limit_train_batches=2",
    "++trainer.limit_val_batches=2",
    "++trainer.limit_test_batches=2",
    "trainer.enable_progress_bar=false",
    "++callbacks.health.dead_steps=0",
)
#: appended after SIZE_OVERRIDES to a command that contains the key: an Optuna search runs 2
#: trials; a resume of the default run (1 epoch) trains one more epoch
EXTRA_SIZE = {"sweep.py": ("--n-trials", "2"), "ckpt_path=": ("trainer.max_epochs=2",)}
#: scripts whose command lines take train.py's overrides (SIZE_OVERRIDES are appended)
TRAINING_SCRIPTS = ("train.py", "sweep.py")

NEEDS_GPU = "needs a CUDA GPU (tests marked gpu and scripts/gpu_check.py cover it on a GPU machine)"
NEEDS_FILES = "needs the data set's files under /data or a download"
SERVER = "a server that runs until stopped (tests/test_tensorboard_http.py serves real runs)"
SLURM = "needs a SLURM cluster (tests/test_cluster_launch.py composes these launcher presets)"
INTEROP = "creates the interop virtualenv (downloads the peer libraries)"
MAKE = "builds the virtualenv; CI runs `make test` and `make docs` themselves (.ci/run)"
#: command (as written, without its comment) -> why the test does not run it
NOT_RUN: Dict[str, str] = {
    "make train": MAKE,
    "make test": MAKE,
    "make docs": MAKE,
    "make extra-cluster": MAKE,
    "make test PYTEST_ARGS=\"-m 'not slow'\"": MAKE,
    'make test PYTEST_ARGS="tests/core -q"': MAKE,
    ".venv/bin/tensorboard --logdir outputs": SERVER,
    ".venv/bin/tensorboard --logdir outputs/train/multiruns/<date_time>": SERVER,
    "python train.py trainer=gpu": NEEDS_GPU,
    "python train.py trainer=gpu trainer.precision=bf16-mixed": NEEDS_GPU,
    "python train.py trainer=gpu trainer.precision=32-true": NEEDS_GPU,
    "python train.py trainer=ddp": NEEDS_GPU,
    "python train.py trainer=ddp trainer.devices=4": NEEDS_GPU,
    "python scripts/gpu_check.py --out benchmarks/results/gpu_check.md": NEEDS_GPU,
    "python -m pytest -m gpu": NEEDS_GPU,
    'SITE=$(mktemp -d) && pip install --no-index --no-deps --target "$SITE" wheels/*.whl': "installs wheels built on a GPU machine",
    'PYTHONPATH="$PWD:$SITE" python scripts/gpu_check.py': NEEDS_GPU,
    "python train.py data=shd encoding=identity data.n_time_bins=50 data.root=/data": NEEDS_FILES,
    "python train.py data=nmnist encoding=identity data.download=true": NEEDS_FILES,
    "python train.py experiment=nmnist_conv data.root=/data": NEEDS_FILES,
    "python3 -m venv .venv-bench && .venv-bench/bin/pip install torch==2.13.0": "creates the benchmark virtualenv (downloads)",
    ".venv-bench/bin/pip install -c <(echo torch==2.13.0) snntorch spikingjelly norse sinabs numpy": "downloads the peer libraries",
    ".venv-bench/bin/pip install --no-deps -e .": "needs the benchmark virtualenv",
    ".venv-bench/bin/python benchmarks/run_benchmarks.py": "needs the benchmark virtualenv; minutes long",
    "python scripts/tensorboard_screenshots.py --logdir <run or sweep dir> --out docs/images": "needs headless Chromium",
    "python train.py -m hydra/launcher=slurm hydra.launcher.partition=gpu hydra.launcher.timeout_min=120  trainer=gpu "
    "encoding=rate_bernoulli,ttfs,population snn.neuron.beta=0.9,0.95": SLURM,
    "python train.py -m hydra/launcher=slurm_ddp hydra.launcher.partition=gpu hydra.launcher.timeout_min=600  trainer=ddp "
    "trainer.devices=4 +trainer.num_nodes=2": SLURM,
    "python train.py -m hydra/launcher=slurm_ddp hydra.launcher.partition=gpu  trainer=ddp trainer.devices=4 optim.lr=1e-3,3e-3": SLURM,
    "srun .venv/bin/python sweep.py --search optuna --dir /shared/sweeps/lr_beta "
    "--worker-index ${SLURM_ARRAY_TASK_ID}  --no-summary trainer=gpu": SLURM,
    "sbatch --array=0-7 sweep_workers.sh": SLURM,
    "python sweep.py --search optuna --dir /shared/sweeps/lr_beta trainer=gpu": SLURM,
    "srun .venv/bin/python train.py trainer=ddp trainer.devices=4 +trainer.num_nodes=2  hydra.run.dir=outputs/train/runs/slurm-${SLURM_JOB_ID}": SLURM,
    "python3 -m venv /work/venv-interop && /work/venv-interop/bin/pip install torch==2.14.1": INTEROP,
    '/work/venv-interop/bin/pip install -e ".[dev,interop]" matplotlib pbr samna': INTEROP,
    "/work/venv-interop/bin/pip install --no-deps sinabs==3.1.3": INTEROP,
    "/work/venv-interop/bin/python -m pytest tests/interop -q": INTEROP,
    "python benchmarks/train_throughput.py": "a benchmark: minutes of timed runs per configuration",
    "git archive <commit> | tar -x -C /tmp/before": "names a commit of the reader's choice",
    "python benchmarks/train_throughput.py --configs conv --settings on,ref --reference /tmp/before": "needs the reference checkout of the line before",
    "python benchmarks/train_throughput.py --device cuda": NEEDS_GPU,
}

#: placeholder -> its stand-in: ``{run}`` is the tiny default run's folder
PLACEHOLDERS = {"outputs/train/runs/<date_time>": "{run}", "outputs/train/runs/<run>": "{run}", "<run>": "{run}"}
#: the interpreter a command names -> this test's interpreter
PYTHONS = ("python3", "python", ".venv/bin/python")


@dataclass(frozen=True)
class Block:
    """The commands of one fenced shell block (comments and blank lines dropped)."""

    page: str
    line: int
    commands: Tuple[str, ...]

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


def strip_comment(line: str) -> str:
    """``line`` without its shell comment: from a ``#`` that starts a word outside quotes."""
    quote = None
    for index, char in enumerate(line):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or line[index - 1].isspace()):
            return line[:index].strip()
    return line.strip()


def shell_blocks(page: Path) -> Iterator[Block]:
    """The fenced shell blocks of a Markdown page, with their first line number."""
    language, start, commands, pending = None, 0, [], ""
    for number, line in enumerate(page.read_text().splitlines(), 1):
        fence = re.match(r"^\s*```(\w*)", line)
        if fence and language is None:
            language, start, commands = fence.group(1), number, []
        elif fence:
            if language in SHELL_LANGUAGES and commands:
                yield Block(str(page.relative_to(REPO)), start, tuple(commands))
            language = None
        elif language in SHELL_LANGUAGES:
            command = strip_comment(pending + line.strip())
            pending = command[:-1] + " " if command.endswith("\\") else ""
            if command and not pending:
                commands.append(command)


def first_occurrences(blocks: List[Block]) -> List[Block]:
    """``blocks`` less the commands that an earlier block holds already (README and docs repeat a few: run once)."""
    seen: set = set()
    kept = []
    for block in blocks:
        commands = tuple(c for c in block.commands if c not in seen)
        seen.update(commands)
        if commands:
            kept.append(Block(block.page, block.line, commands))
    return kept


BLOCKS = first_occurrences([block for page in PAGES for block in shell_blocks(page)])


def runnable(command: str, run_dir: Path) -> str:
    """``command`` as the test runs it: this interpreter and repository, placeholders filled, sizes appended."""
    extra = [override for key, overrides in EXTRA_SIZE.items() if key in command for override in overrides]
    for placeholder, value in PLACEHOLDERS.items():
        command = command.replace(placeholder, value.format(run=run_dir))
    words = command.split(" ", 2)
    if words[0] in PYTHONS:
        script = words[1] if len(words) > 1 else ""
        if script.endswith(".py") and (REPO / script).is_file():
            words[1] = str(REPO / script)
        words[0] = shlex.quote(sys.executable)
        command = " ".join(words)
        if script in TRAINING_SCRIPTS:
            command = " ".join([command, *SIZE_OVERRIDES, *extra])
    return command


def repo_script(line: str) -> Optional[Tuple[str, List[str]]]:
    """``(script, args)`` of a line that only runs one of the repository's scripts with this Python
    (no shell syntax: pipes, redirections, variables, several commands); None for any other line,
    which runs through bash."""
    if any(char in line for char in "|&;<>$`(){}*?~\\") or "=" in line.split(" ", 1)[0]:
        return None
    words = shlex.split(line)
    if len(words) < 2 or words[0] != sys.executable or not words[1].startswith(str(REPO)):
        return None
    return words[1], words[2:]


@pytest.fixture(scope="module")
def default_run(tmp_path_factory) -> Path:
    """A tiny run of the default config: what ``outputs/train/runs/<date_time>`` stands for."""
    run_dir = tmp_path_factory.mktemp("docs_default_run") / "outputs" / "train" / "runs" / "2026-01-01_00-00-00"
    proc = subprocess.run(
        [sys.executable, "train.py", *SIZE_OVERRIDES, f"hydra.run.dir={run_dir}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return run_dir


@pytest.fixture(scope="module")
def block_results(default_run, tmp_path_factory, request) -> Dict[str, List[Tuple[str, subprocess.CompletedProcess]]]:
    """Run the selected tests' blocks (each block's runnable commands in order, stopping at the first
    failure), two blocks at a time."""
    root = tmp_path_factory.mktemp("docs_commands")
    params = [getattr(item, "callspec", None) for item in request.session.items]
    selected = {p.params["block"].id for p in params if p is not None and "block" in p.params}

    def run(index_block: Tuple[int, Block]) -> List[Tuple[str, subprocess.CompletedProcess]]:
        index, block = index_block
        cwd = root / f"block{index}"
        cwd.mkdir()
        results = []
        for command in block.commands:
            if command in NOT_RUN:
                continue
            # a run folder is named after the second it starts (outputs/train/runs/<date_time>): the
            # next command of the block starts in a later second than the previous one ended, as a
            # person typing it would (its folder was named before it ended)
            if results:
                time.sleep(1.05 - time.time() % 1.0)
            line = runnable(command, default_run)
            script = repo_script(line)
            if script is None:
                proc = subprocess.run(["bash", "-c", line], cwd=cwd, capture_output=True, text=True, timeout=600)
            else:
                proc = runner.run(script[0], script[1], cwd=cwd)
            results.append((command, proc))
            if proc.returncode != 0:
                break
        return results

    with ScriptRunner(workers=2) as runner, concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        blocks = [(index, block) for index, block in enumerate(BLOCKS) if block.id in selected]
        return dict(zip([block.id for _, block in blocks], pool.map(run, blocks)))


@pytest.mark.slow
@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_documented_commands_run(block, block_results):
    for command, proc in block_results[block.id]:
        assert proc.returncode == 0, (
            f"{block.id}: `{command}` exited with {proc.returncode}:\n{(proc.stdout + proc.stderr)[-3000:]}"
        )


def test_pages_hold_the_commands_this_test_knows():
    """The parser finds the documented commands; every NOT_RUN entry is still documented (no stale excuse)."""
    commands = {command for block in BLOCKS for command in block.commands}
    assert {
        "python train.py snn.checkpoint_every=5",
        "python train.py -m encoding=rate_bernoulli,ttfs,population",
    } <= commands
    assert sorted(set(NOT_RUN) - commands) == []
    assert all(reason for reason in NOT_RUN.values())


def test_runnable_fills_placeholders_and_appends_sizes(tmp_path):
    line = runnable("python train.py ckpt_path=outputs/train/runs/<run>/checkpoints/last.ckpt", tmp_path)
    assert line.endswith(f"ckpt_path={tmp_path}/checkpoints/last.ckpt {' '.join(SIZE_OVERRIDES)} trainer.max_epochs=2")
    line = runnable("python sweep.py --search optuna --n-trials 20 data=digits", tmp_path)
    start = f"{shlex.quote(sys.executable)} {REPO / 'sweep.py'} --search optuna --n-trials 20 data=digits"
    assert line.startswith(start)
    assert line.endswith(" ".join([*SIZE_OVERRIDES, "--n-trials", "2"]))
    line = runnable(
        ".venv/bin/python evaluate.py ckpt_path=outputs/train/runs/<date_time>/checkpoints/last.ckpt", tmp_path
    )
    assert line == f"{shlex.quote(sys.executable)} {REPO / 'evaluate.py'} ckpt_path={tmp_path}/checkpoints/last.ckpt"


def test_repo_script_lines_only_are_forked():
    python = shlex.quote(sys.executable)
    assert repo_script(f"{python} {REPO / 'train.py'} data=digits 'x=[1, 2]'") == (
        str(REPO / "train.py"),
        ["data=digits", "x=[1, 2]"],
    )
    for line in (
        f"{python} {REPO / 'train.py'} data=digits | tail -1",
        f"OMP_NUM_THREADS=1 {python} {REPO / 'train.py'}",
        f"{python} -m mkdocs build",
        "tensorboard --logdir outputs",
        f"{python} {REPO / 'train.py'} && ls",
    ):
        assert repo_script(line) is None, line


def test_comments_are_stripped_but_quoted_hashes_kept():
    assert strip_comment("python train.py   # a comment") == "python train.py"
    assert (
        strip_comment("make test PYTEST_ARGS=\"-m 'not slow'\"   # skip") == "make test PYTEST_ARGS=\"-m 'not slow'\""
    )
    assert strip_comment("# only a comment") == ""

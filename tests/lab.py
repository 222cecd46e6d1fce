"""Walk a lab written in Markdown: run each command it shows and compare what it prints with what it says.

The lab's contract with this walker is small and readable on GitHub as it is:

- a ```` ```console ```` block holds commands (lines starting with ``$ ``) each followed by the output it
  prints; ``...`` in the output stands for anything (doctest's ELLIPSIS), and whitespace differences are
  ignored;
- a ```` ```console background ```` block is a command left running in another terminal (``make dev``): it
  is started, its output must show the lines given, and it gets Ctrl-C (SIGINT) when the lab is over;
- every other block (```` ```sh ````, ```` ```json ````) is for reading, never run (the optional real-cloud
  part, things to type into a console).

Commands run one after another in bash, as they would in one terminal: each starts in the directory and the
environment the previous one left (``cd``, ``export``, ``source .venv/bin/activate`` carry over).
"""

from __future__ import annotations

import doctest
import os
import re
import shlex
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

FENCE = re.compile(r"^```(?P<info>[^\n`]*)\n(?P<body>.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
CHECKER = doctest.OutputChecker()
MATCHING = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


@dataclass(frozen=True)
class Step:
    command: str
    expected: str
    background: bool = False
    line: int = 0  # where the command is in the lab, for failure messages


def console_blocks(markdown: str) -> Iterator[tuple[str, str, int]]:
    """``(info, body, line)`` of every ```` ```console ```` block."""
    for match in FENCE.finditer(markdown):
        words = match["info"].split()
        if words and words[0] == "console":
            yield " ".join(words[1:]), match["body"], markdown.count("\n", 0, match.start("body")) + 1


def steps(markdown: str) -> list[Step]:
    found: list[Step] = []
    for info, body, first_line in console_blocks(markdown):
        command: Optional[str] = None
        output: list[str] = []
        start = first_line
        for number, text in enumerate(body.splitlines(), start=first_line):
            if text.startswith("$ "):
                if command is not None:
                    found.append(Step(command, "\n".join(output), info == "background", start))
                command, output, start = text[2:], [], number
            elif command is None:
                raise ValueError(f"line {number}: output before any command in a console block")
            else:
                output.append(text)
        if command is not None:
            found.append(Step(command, "\n".join(output), info == "background", start))
    return found


def matches(expected: str, actual: str) -> bool:
    return CHECKER.check_output(expected.strip() + "\n", actual.strip() + "\n", MATCHING)


@dataclass
class Terminal:
    """One terminal of the lab: bash with a working directory and an environment that carry over."""

    cwd: Path
    env: dict[str, str]
    state: Path
    background: list[tuple[Step, subprocess.Popen]] = field(default_factory=list)

    def _script(self, command: str) -> str:
        # The command runs as typed; afterwards the shell's directory and exported variables are saved.
        return (f"{command}\n__status=$?\npwd > {shlex.quote(str(self.state / 'cwd'))}\n"
                f"export -p > {shlex.quote(str(self.state / 'env'))}\nexit $__status\n")

    def _restore(self) -> str:
        env_file = self.state / "env"
        return f"source {shlex.quote(str(env_file))}\n" if env_file.exists() else ""

    def _collect(self) -> None:
        cwd_file = self.state / "cwd"
        if cwd_file.exists():
            self.cwd = Path(cwd_file.read_text().strip())

    def run(self, step: Step, timeout: float = 300) -> str:
        # One stream, as a terminal shows it: a progress bar on stderr appears where it was written.
        done = subprocess.run(["bash", "-c", self._restore() + self._script(step.command)], cwd=self.cwd,
                              env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
        self._collect()
        return done.stdout

    def start(self, step: Step, timeout: float = 120) -> str:
        """Start a command that keeps running; return once its output shows what the lab says it shows."""
        log = self.state / f"background-{len(self.background)}.log"
        with log.open("w") as sink:
            process = subprocess.Popen(["bash", "-c", self._restore() + f"exec {step.command}"], cwd=self.cwd,
                                       env=self.env, stdout=sink, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
        self.background.append((step, process))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            output = log.read_text()
            if matches(step.expected, output) or process.poll() is not None:
                return output
            time.sleep(0.2)
        return log.read_text()

    def interrupt_all(self, timeout: float = 60) -> list[int]:
        """Ctrl-C to every command left running, as the learner does at the end; their exit statuses."""
        statuses = []
        for _, process in self.background:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGINT)
            try:
                statuses.append(process.wait(timeout))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                statuses.append(process.wait())
        return statuses


def terminal_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` as a learner's fresh terminal has it: without what an enclosing make passes down (which
    would turn ``make:`` into ``make[1]:`` in what the lab's commands print)."""
    return {name: value for name, value in environ.items() if name not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}


def substitute(text: str, replacements: Mapping[str, str]) -> str:
    for old, new in replacements.items():
        text = text.replace(old, new)
    return text

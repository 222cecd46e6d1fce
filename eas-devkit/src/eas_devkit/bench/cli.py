"""``eas-devkit bench`` (``make bench``): run the benchmarks against the local EAS, write BENCHMARKS.md.

The kit's command line makes the process hermetic before it runs (``eas_devkit.hermetic``): this process and
the clients it spawns import alibabacloud_credentials for the direct comparisons.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from .local import BenchError, LocalEAS, service_spec
from .plan import Plan
from .report import Section, not_applicable, write_report

Benchmark = Callable[[LocalEAS, Plan], Section]
NAMES = ("fetches", "overhead", "streaming", "cold-start", "maxcompute")


def add_bench_parser(commands: Any) -> argparse.ArgumentParser:
    """Register ``bench`` on the kit's command line (``eas_devkit.cli``)."""
    parser = commands.add_parser(
        "bench", help="measure the service against the local EAS; writes BENCHMARKS.md",
        description="Measure the service against the local EAS and write BENCHMARKS.md: credential fetches, "
                    "service overhead, streaming, cold start and MaxCompute reads, each beside the SDKs used "
                    "directly. Benchmarks measure and report; they never fail on a missed target.",
        epilog="--quick (make bench ARGS=--quick) runs the small sizes.",
    )
    parser.add_argument("--quick", action="store_true",
                        help="small sizes and one run each (1,000 requests, a 32 MiB stream): checks the machinery")
    parser.add_argument("--runs", type=at_least_one, default=None, metavar="N",
                        help="runs per figure, whose median is reported (default 3; 1 with --quick)")
    parser.add_argument("--only", action="append", choices=NAMES, default=None, metavar="NAME",
                        help=f"run only this benchmark (repeatable): {', '.join(NAMES)}")
    parser.add_argument("--output", type=Path, default=None, metavar="FILE",
                        help="where the report goes (default: BENCHMARKS.md in the project)")
    parser.set_defaults(run=run_bench, errors=(BenchError,), error_prefix="bench", hermetic="bench")
    return parser


def at_least_one(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of at least 1")
    return number


def run_bench(args: argparse.Namespace) -> int:
    runs = args.runs or (1 if args.quick else 3)
    plan = Plan.small(runs) if args.quick else Plan.full(runs)
    chosen = set(args.only or NAMES)
    started = time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix="eas-bench-"))
    try:
        sections = run_all(args.project, plan, chosen, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    output = args.output or args.project / "BENCHMARKS.md"
    write_report(output, sections, command_line(bench_arguments(args)), plan.quick, plan.runs,
                 time.monotonic() - started)
    print(f"bench: wrote {output} in {time.monotonic() - started:.0f} s")
    return 0


def bench_arguments(args: argparse.Namespace) -> list[str]:
    """The options of this run, as they would be typed (for the report's "how to run it again")."""
    arguments = ["--quick"] if args.quick else []
    arguments += ["--runs", str(args.runs)] if args.runs else []
    for name in args.only or []:
        arguments += ["--only", name]
    return arguments + (["--output", str(args.output)] if args.output else [])


def command_line(arguments: list[str]) -> str:
    """The command as it was typed, in Markdown: through make (which sets MAKELEVEL for its commands) or not."""
    direct = f"`{shlex.join(['eas-devkit', 'bench', *arguments])}`"
    if not os.environ.get("MAKELEVEL"):
        return direct
    make = shlex.join(["make", "bench", *([f"ARGS={shlex.join(arguments)}"] if arguments else [])])
    return f"`{make}` (runs {direct})"


def run_all(project: Path, plan: Plan, chosen: set[str], scratch: Path) -> list[Section]:
    """Each benchmark against a local EAS of its own configuration, in the order of the report."""
    from tqdm import tqdm  # the benchmarks and their clients: imported here, not by every command's --help

    from . import cold_start, credential_fetches, maxcompute, overhead, streaming

    spec = service_spec(project)
    has_oss, has_maxcompute = "OSS_BUCKET" in spec.env, "ODPS_PROJECT" in spec.env
    needs: dict[str, tuple[str, bool, str]] = {
        "fetches": (credential_fetches.TITLE, has_oss and spec.has_role, "needs the OSS handlers and a role"),
        "overhead": (overhead.TITLE, has_oss, "needs the OSS handlers"),
        "streaming": (streaming.TITLE, has_oss, "needs the OSS handlers"),
        "cold-start": (cold_start.TITLE, has_oss and has_maxcompute, "needs the OSS and MaxCompute handlers"),
        "maxcompute": (maxcompute.TITLE, has_maxcompute, "needs the MaxCompute handlers"),
    }
    runners: dict[str, Benchmark] = {
        "fetches": credential_fetches.run, "overhead": overhead.run, "streaming": streaming.run,
        "cold-start": cold_start.run, "maxcompute": maxcompute.run,
    }
    sections: dict[str, Section] = {}
    for name in NAMES:
        title, possible, why = needs[name]
        if name in chosen and not possible:
            sections[name] = not_applicable(title, f"Not run: the benchmark {why}, which this bake does not have.")
    # Benchmark 1 wants four workers; the others measure the service as service.json configures it.
    stacks = {"four-workers": (["fetches"], {"GUNICORN_WORKERS": str(plan.fetch_workers)}),
              "default": (["overhead", "streaming", "cold-start", "maxcompute"], {})}
    for stack, (names, overrides) in stacks.items():
        todo = [name for name in names if name in chosen and name not in sections]
        if not todo:
            continue
        configured = ", ".join(f"{name}={value}" for name, value in overrides.items()) or "as service.json has it"
        tqdm.write(f"bench: starting a local EAS ({configured})…", file=sys.stderr)
        with LocalEAS(project, scratch / stack, overrides) as eas:
            for name in todo:
                tqdm.write(f"bench: {needs[name][0]}…", file=sys.stderr)
                try:
                    sections[name] = runners[name](eas, plan)
                except BenchError as error:
                    raise BenchError(f"{needs[name][0]}: {error}\n--- local EAS log ---\n{eas.log_tail()}") from None
    return [sections[name] for name in NAMES if name in sections]


"""``python -m bench`` (``make bench``): run the benchmarks against the local EAS, write BENCHMARKS.md."""

from __future__ import annotations

import os
import tempfile

# alibabacloud_credentials reads these once, at import (this process and the spawned clients import it for
# the direct comparisons): never the ECS metadata address, never a personal profile.
os.environ["ALIBABA_CLOUD_ECS_METADATA_DISABLED"] = "true"
os.environ["ALIBABA_CLOUD_CLI_PROFILE_DISABLED"] = "true"
os.environ["HOME"] = tempfile.mkdtemp(prefix="eas-bench-home-")  # removed at the end; spawned clients inherit it
for _name in ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ALIBABA_CLOUD_SECURITY_TOKEN",
              "ALIBABA_CLOUD_CREDENTIALS_URI", "ALIBABA_CLOUD_ROLE_ARN", "ALIBABA_CLOUD_OIDC_TOKEN_FILE"):
    os.environ.pop(_name, None)

import argparse  # noqa: E402
import shlex  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable, Optional  # noqa: E402

from tqdm import tqdm  # noqa: E402

from . import cold_start, credential_fetches, maxcompute, overhead, streaming  # noqa: E402
from .local import PROJECT, BenchError, LocalEAS, service_spec  # noqa: E402
from .plan import Plan  # noqa: E402
from .report import Section, not_applicable, write_report  # noqa: E402

Benchmark = Callable[[LocalEAS, Plan], Section]
NAMES = ("fetches", "overhead", "streaming", "cold-start", "maxcompute")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Measure the service against the local EAS and write BENCHMARKS.md: credential fetches, "
                    "service overhead, streaming, cold start and MaxCompute reads, each beside the SDKs used "
                    "directly. Benchmarks measure and report; they never fail on a missed target.",
        epilog="make bench ARGS=--quick runs the small sizes.",
    )
    parser.add_argument("--quick", action="store_true",
                        help="small sizes and one run each (1,000 requests, a 32 MiB stream): checks the machinery")
    parser.add_argument("--runs", type=int, default=None, metavar="N",
                        help="runs per figure, whose median is reported (default 3; 1 with --quick)")
    parser.add_argument("--only", action="append", choices=NAMES, default=None, metavar="NAME",
                        help=f"run only this benchmark (repeatable): {', '.join(NAMES)}")
    parser.add_argument("--output", type=Path, default=PROJECT / "BENCHMARKS.md", metavar="FILE",
                        help="where the report goes (default: BENCHMARKS.md in the project)")
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(arguments)
    runs = args.runs or (1 if args.quick else 3)
    if runs < 1:
        raise SystemExit("--runs must be at least 1")
    plan = Plan.small(runs) if args.quick else Plan.full(runs)
    chosen = set(args.only or NAMES)
    started = time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix="eas-bench-"))
    try:
        sections = run_all(plan, chosen, scratch)
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.rmtree(os.environ["HOME"], ignore_errors=True)
    write_report(args.output, sections, command_line(arguments), plan.quick, plan.runs, time.monotonic() - started)
    print(f"bench: wrote {args.output} in {time.monotonic() - started:.0f} s")
    return 0


def command_line(arguments: list[str]) -> str:
    """The command as it was typed, in Markdown: through make (which sets MAKELEVEL for its commands) or not."""
    direct = f"`{shlex.join(['python', '-m', 'bench', *arguments])}`"
    if not os.environ.get("MAKELEVEL"):
        return direct
    make = shlex.join(["make", "bench", *([f"ARGS={shlex.join(arguments)}"] if arguments else [])])
    return f"`{make}` (runs {direct})"


def run_all(plan: Plan, chosen: set[str], scratch: Path) -> list[Section]:
    """Each benchmark against a local EAS of its own configuration, in the order of the report."""
    spec = service_spec()
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
        with LocalEAS(scratch / stack, overrides) as eas:
            for name in todo:
                tqdm.write(f"bench: {needs[name][0]}…", file=sys.stderr)
                try:
                    sections[name] = runners[name](eas, plan)
                except BenchError as error:
                    raise BenchError(f"{needs[name][0]}: {error}\n--- local EAS log ---\n{eas.log_tail()}") from None
    return [sections[name] for name in NAMES if name in sections]


if __name__ == "__main__":
    sys.exit(main())

"""`make dev`'s edit loop: a saved file under mount/ restarts the service's process, nothing else.

The credentials endpoint, OSS, MaxCompute and the control plane live in the kit's process and keep running;
only the run command (gunicorn) is stopped (quickly) and started again, on the same port. Not gunicorn's
SIGHUP: the template's gunicorn.conf.py imports the app in the master (its logging settings and worker
class), so workers forked after a HUP would serve the old code from the master's modules.

watchfiles (inotify through the Rust notify crate) sees a save in about 50 ms and batches an editor's
several writes into one change; polling mtimes would take half its interval on average.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional

from watchfiles import Change, DefaultFilter, watch

from .control_plane.instance_log import why_it_failed

if TYPE_CHECKING:
    from .stack import LocalEAS

# Besides watchfiles' defaults (__pycache__, *.pyc, .git, *.swp, *~, .#lock files, JetBrains' temp files…):
# Emacs's #autosave#, vim's probe file 4913, ruff's cache.
IGNORED_DIRS = (*DefaultFilter.ignore_dirs, ".ruff_cache")
IGNORED_NAMES = (*DefaultFilter.ignore_entity_patterns, r"^#.*#$", r"^4913$")
SHOWN_FILES = 3  # a `git checkout` changes dozens: the status line names a few and counts the rest
TRACEBACK_LINES = 30
CHANGE_WORDS = {Change.added: "added", Change.modified: "changed", Change.deleted: "deleted"}


@dataclass(frozen=True)
class Restart:
    """What became of one restart of the service."""

    seconds: float
    pid: Optional[int] = None  # the new run command's, when it answers /health
    error: Optional[str] = None  # why it does not
    output: tuple[str, ...] = ()  # what it printed before it died, when the kit has it (--quiet's log)

    @property
    def ok(self) -> bool:
        return self.error is None


class MountReloader:
    """Watches ``mount_dir`` in a thread of its own; each batch of changes restarts the service once."""

    def __init__(self, local_eas: LocalEAS, mount_dir: Path, say: Callable[[str], None]) -> None:
        self.local_eas = local_eas
        self.mount_dir = mount_dir.resolve()
        self.say = say
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mount-reloader", daemon=True)

    def start(self) -> MountReloader:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop watching; a restart under way finishes first (the service is then stopped with the rest)."""
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        watcher = watch(self.mount_dir, watch_filter=DefaultFilter(ignore_dirs=IGNORED_DIRS,
                                                                    ignore_entity_patterns=IGNORED_NAMES),
                        stop_event=self._stop, rust_timeout=500, raise_interrupt=False)
        for changes in watcher:
            if self._stop.is_set():
                return
            what = describe_changes(changes, self.local_eas.settings.project)
            try:
                restart = self.local_eas.restart_service()
            except OSError as problem:  # the run command could not even be started: keep watching all the same
                restart = Restart(0, error=f"{type(problem).__name__}: {problem}")
            self.say(status_line(what, restart, self.local_eas.instance_url, kept(self.local_eas)))


def describe_changes(changes: Iterable[tuple[Change, str]], project: Path) -> str:
    """``mount/app/x.py changed, mount/app/y.py added and 3 more``: the paths as the developer sees them."""
    named = sorted({(_relative(path, project), CHANGE_WORDS[change]) for change, path in changes})
    parts = [f"{path} {word}" for path, word in named[:SHOWN_FILES]]
    more = len(named) - SHOWN_FILES
    return ", ".join(parts) + (f" and {more} more" if more > 0 else "")


def kept(local_eas: LocalEAS) -> tuple[str, ...]:
    """What the service had on the local EAS before the restart and still has after it."""
    spec = local_eas.spec
    return tuple(name for name, present in (("instance credentials", spec.has_role), ("OSS objects", spec.bucket),
                                            ("MaxCompute tables", "ODPS_PROJECT" in spec.env)) if present)


def status_line(what: str, restart: Restart, url: str, kept: tuple[str, ...] = ()) -> str:
    """The one line a save prints (and, when the new code does not start, the lines of its error)."""
    if restart.ok:
        return (f"reload: {what} — the service restarted with the new code in {restart.seconds:.1f} s "
                f"(pid {restart.pid}, {url})" + (f"; kept: {', '.join(kept)}" if kept else ""))
    lines = [f"reload: {what} — the new code does not start ({restart.error}): the service is DOWN at {url}, "
             "the local EAS keeps running; fix the error and save again"]
    if restart.output:
        lines += ["    " + line for line in restart.output]
    else:
        lines.append("    (the run command's output is above)")
    return "\n".join(lines)


def error_lines(output: list[str]) -> tuple[str, ...]:
    """The traceback that says why the run command failed, or its last lines if it printed none."""
    return tuple(why_it_failed(output, fallback=10, limit=TRACEBACK_LINES))


def _relative(path: str, project: Path) -> str:
    try:
        return str(Path(path).relative_to(project))
    except ValueError:  # a --mount-dir outside the project
        return path

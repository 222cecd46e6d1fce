"""What EAS does to a container before the run command: mount the OSS path, prepare the Python packages.

The mount is a copy: every object under ``oss://bucket/prefix/`` in the local :class:`ObjectStore` is
streamed to the same relative path under the target directory (keys ending in ``/`` are folder markers
and skipped). The copy is made beside the target and swapped in whole, so a failed mount leaves the
previous one as it was.

The local EAS installs nothing: the instance runs with the interpreter of the local EAS itself. So
instead of ``pip install``, every line of the third-party library list (``prepare.pythonRequirements`` or
the file at ``prepare.pythonRequirementsPath``) is compared with what is installed here, and each
difference becomes a warning. A difference does not fail the deployment: if it matters, the run command
fails, and its output (in the deployment events) says which import broke. Only ``name==version`` pins
are compared by version; other specifiers (``>=``, ``~=``...) are only checked for presence, and
environment markers are not evaluated.
"""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Optional

from ..oss import ObjectStore

COPY_CHUNK = 256 * 1024
_OSS_PATH = re.compile(r"oss://(?P<bucket>[a-z0-9][a-z0-9-]{1,61}[a-z0-9])/(?P<prefix>.*)")
_REQUIREMENT = re.compile(
    r"(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*(?P<spec>[^;]*?)\s*(?:;.*)?"
)
_PIN = re.compile(r"==\s*(?P<version>[^\s,*]+)")


class MountError(RuntimeError):
    """The OSS path cannot be mounted; the message says why, as a deployment event."""


@dataclass(frozen=True)
class Mounted:
    source: str
    files: int
    size: int


def split_oss_path(path: str) -> tuple[str, str]:
    """``(bucket, prefix)`` of ``oss://bucket/prefix/``; the prefix of a folder always ends with ``/``."""
    match = _OSS_PATH.fullmatch(path)
    if match is None:
        raise MountError(f"{path} is not an OSS path (oss://<bucket>/<folder>/)")
    prefix = match["prefix"]
    return match["bucket"], prefix if not prefix or prefix.endswith("/") else prefix + "/"


def mount_oss(store: ObjectStore, source: str, target: Path) -> Mounted:
    """Copy every object under ``source`` into ``target`` (replacing it); fails on an empty path."""
    bucket, prefix = split_oss_path(source)
    if not store.bucket_exists(bucket):
        raise MountError(f"failed to mount {source}: the bucket {bucket} does not exist")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".mount-"))
    files = size = 0
    try:
        marker = ""
        while True:
            page = store.list_objects(bucket, prefix=prefix, after=marker, max_keys=1000)
            for info in page.objects:
                relative = _relative_path(info.key[len(prefix):])
                if relative is None:
                    continue
                destination = staging.joinpath(*relative.parts)
                destination.parent.mkdir(parents=True, exist_ok=True)
                _, body = store.open_object(bucket, info.key)
                with body, open(destination, "wb") as out:
                    shutil.copyfileobj(body, out, COPY_CHUNK)
                files += 1
                size += info.size
            if not page.is_truncated:
                break
            marker = page.next_marker
        if files == 0:
            raise MountError(f"failed to mount {source}: the path is empty or does not exist "
                             "(upload the code to it first)")
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Mounted(source, files, size)


def _relative_path(rest: str) -> Optional[PurePosixPath]:
    """The key below the prefix as a safe relative path; None for folder markers and unsafe keys."""
    if not rest or rest.endswith("/"):
        return None
    path = PurePosixPath(rest)
    if path.is_absolute() or any(part in ("..", ".", "") for part in rest.split("/")):
        return None
    return path


def requirement_warnings(lines: list[str]) -> list[str]:
    """One message per requirement this environment does not satisfy (missing, or another version)."""
    warnings = []
    for raw in lines:
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):  # comments, options such as -r or --index-url
            continue
        match = _REQUIREMENT.fullmatch(line)
        if match is None:
            warnings.append(f"{line}: not a requirement the local EAS understands; skipped")
            continue
        installed = installed_version(match["name"])
        pin = _PIN.fullmatch(match["spec"])
        if installed is None:
            warnings.append(f"{line}: not installed in the local EAS's environment ({sys.executable}); EAS would "
                            "install it before the run command, the local EAS installs nothing")
        elif pin is not None and pin["version"] != installed:
            warnings.append(f"{line}: the local EAS's environment has {match['name']} {installed}; the service "
                            "runs with that version here")
    return warnings


def read_requirements(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def installed_version(name: str) -> Optional[str]:
    """The installed version of distribution ``name`` (``-``, ``_`` and ``.`` are the same), or None."""
    for candidate in dict.fromkeys([name, re.sub(r"[-_.]+", "-", name), re.sub(r"[-_.]+", "_", name)]):
        try:
            return importlib.metadata.version(candidate)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None

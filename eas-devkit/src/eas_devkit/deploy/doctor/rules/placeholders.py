"""Rules: the template's example values, and IDs that still look like placeholders, are replaced before a cloud
deploy. The local EAS makes up whatever they name (the account, the bucket, the project), so they are fine for
``--target local`` (a WARN, to remember them); PAI-EAS would look for them in a real account (an ERROR for
``--target cloud``)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from ..findings import Finding, error, json_path, warn
from ..project import CLOUD, SERVICE_JSON, Project

EXAMPLE_ACCOUNT = "1234567890123456"  # the account ID in the template's default role_arn
# What a value left to be filled in looks like: vpc-xxxxxxxx, eas-r-****, <your VPC>, your-bucket, placeholder.
PLACEHOLDER_LOOK = re.compile(r"x{4,}|\*{3,}|<[^<>]+>|placeholder|\byour[-_]", re.IGNORECASE)
NOT_SEARCHED = {("dockerAuth",), ("token",)}  # secrets: never read, never printed
SHELL = {"script", "command"}  # a run command's < and > are redirections
# Besides service.json, where a value the deployment uses is written down (the answers included: `cruft update`
# renders the template again with .cruft.json's).
OTHER_FILES = ("ram", "mount", "examples", ".cruft.json")
LARGEST_FILE = 1_000_000


@dataclass(frozen=True)
class Placeholder:
    value: str
    what: str  # "the template's example account ID"
    answer: Optional[str]  # the cookiecutter answer that set it, when one did


def placeholders_are_replaced_for_the_cloud(project: Project) -> Iterator[Finding]:
    """The template's example values — the account ID 1234567890123456 in role_arn, the default bucket
    <service with - for _>-bucket, the default MaxCompute project <service>_project — and IDs that still look like
    placeholders (vpc-xxxxxxxx, eas-r-****, <…>): the local EAS makes up what they name, PAI-EAS looks for it in the
    account. A WARN for target local, an ERROR for target cloud, each naming the value, the answer that set it and
    the files to edit."""
    service = project.service
    if service is None:
        return
    strings = list(_strings(service, ()))
    known = _template_examples(service) + _template_examples(project.base_service or {})  # an environment's too
    found: dict[str, tuple[Placeholder, list[str]]] = {}
    for path, text in strings:
        for placeholder in known:
            if _mentions(text, placeholder.value):
                found.setdefault(placeholder.value, (placeholder, []))[1].append(json_path(*path))
        if path[-1:] not in (("script",), ("command",)) and not any(text in value for value in found) \
                and PLACEHOLDER_LOOK.search(text):
            found.setdefault(text, (Placeholder(text, "a value that looks like a placeholder", None), []))[1] \
                .append(json_path(*path))
    report = error if project.target == CLOUD else warn
    for placeholder, paths in found.values():
        files = _files_mentioning(project.root, placeholder.value)
        answer = (f"the answer {placeholder.answer} set it when the project was baked (.cruft.json keeps it for "
                  "`cruft update`); " if placeholder.answer else "")
        if project.target == CLOUD:
            consequence = "PAI-EAS needs your own (it looks the value up in your account)"
        else:
            consequence = "fine for the local EAS, which makes it up; `--target cloud` refuses it"
        yield report(f"{SERVICE_JSON} {paths[0]}", f"{placeholder.value} is {placeholder.what}: {consequence}",
                     f"{answer}put your own in {SERVICE_JSON} ({', '.join(paths)})"
                     + (f" and in {', '.join(files)}" if files else ""))


def _template_examples(service: dict[str, Any]) -> list[Placeholder]:
    examples = [Placeholder(EXAMPLE_ACCOUNT, "the template's example account ID", "role_arn")]
    metadata = service.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if isinstance(name, str) and name:
        examples += [Placeholder(f"{name.replace('_', '-')}-bucket", "the template's default bucket", "oss_bucket"),
                     Placeholder(f"{name}_project", "the template's default MaxCompute project", "odps_project")]
    return examples


def _strings(node: Any, path: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], str]]:
    """Every string of service.json with its path, secrets and run commands left out."""
    if path[:1] in NOT_SEARCHED:
        return
    if isinstance(node, str):
        yield path, node
    elif isinstance(node, dict):
        for key, value in node.items():
            if not (key in SHELL and isinstance(value, str)):
                yield from _strings(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _strings(value, (*path, index))


def _mentions(text: str, value: str) -> bool:
    """``value`` in ``text`` as a whole name (the bucket in oss://<bucket>/…, the account in acs:ram::<account>:…)."""
    return re.search(rf"(?<![A-Za-z0-9_-]){re.escape(value)}(?![A-Za-z0-9_-])", text) is not None


def _files_mentioning(root: Path, value: str) -> list[str]:
    """The project files other than service.json that mention ``value``, in a stable order."""
    found = []
    for top in OTHER_FILES:
        base = root / top
        paths = sorted(base.rglob("*")) if base.is_dir() else [base]
        for path in paths:
            if not path.is_file() or "__pycache__" in path.parts or path.stat().st_size > LARGEST_FILE:
                continue
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            if _mentions(text, value):
                found.append(path.relative_to(root).as_posix())
    return found


RULES = (placeholders_are_replaced_for_the_cloud,)

"""gunicorn's settings as the run command starts it: its options (``--bind``, ``--timeout``...) over the literal
settings of its config file (``--config``, else ``gunicorn.conf.py`` in the code mount), as gunicorn reads them."""

from __future__ import annotations

import posixpath
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

from .findings import at
from .literals import NOT_A_LITERAL, Literal
from .project import DEFAULT_GUNICORN_CONF, SERVICE_JSON

if TYPE_CHECKING:
    from .project import Project

# The command-line options the rules read, and the setting each one sets.
OPTIONS = {"--bind": "bind", "-b": "bind", "--config": "config", "-c": "config", "--timeout": "timeout",
           "-t": "timeout", "--graceful-timeout": "graceful_timeout", "--worker-class": "worker_class",
           "-k": "worker_class"}
DEFAULTS = {"bind": ["127.0.0.1:8000"], "timeout": 30, "graceful_timeout": 30, "worker_class": "sync"}


@dataclass(frozen=True)
class Setting:
    value: Any  # NOT_A_LITERAL when it is set in a way that cannot be read without running it
    where: str  # "service.json $.containers[0].script", "mount/gunicorn.conf.py:24", or the default's source
    default: bool = False  # not set anywhere: gunicorn's own default


@dataclass(frozen=True)
class Gunicorn:
    command_where: str  # the run command's JSON path
    config: str  # the project file of the config file gunicorn reads
    options: dict[str, list[str]]  # from the run command: setting → values (bind may be given several times)
    config_literals: Optional[dict[str, Literal]]  # None when the config file does not parse

    def setting(self, name: str) -> Setting:
        """A setting as gunicorn ends up with it: the command line's, else the config file's, else the default."""
        if name in self.options:
            values = self.options[name]
            return Setting(values if name == "bind" else values[-1], self.command_where)
        if self.config_literals is None:
            return Setting(NOT_A_LITERAL, self.config)
        if name in self.config_literals:
            literal = self.config_literals[name]
            return Setting(literal.value, f"{self.config}:{literal.line}")
        return Setting(DEFAULTS[name], self.command_where, default=True)


def gunicorn_of(project: Project) -> Optional[Gunicorn]:
    """gunicorn's settings; None when the run command does not start gunicorn or cannot be split into words."""
    command = project.run_command
    if command is None:
        return None
    try:
        lexer = shlex.shlex(command.replace("\n", " ; "), posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        tokens = list(lexer)
    except ValueError:
        return None
    if "gunicorn" not in (posixpath.basename(token) for token in tokens):
        return None
    options: dict[str, list[str]] = {}
    in_gunicorn = False
    for position, token in enumerate(tokens):
        following = tokens[position + 1] if position + 1 < len(tokens) else ""
        if token and set(token) <= set(";&|"):
            in_gunicorn = False
        elif posixpath.basename(token) == "gunicorn":
            in_gunicorn = True
        elif in_gunicorn:
            name, value = _option(token, following)
            if name is not None:
                options.setdefault(name, []).append(value)
    config = options.pop("config", [None])[-1]
    relative = (project.local_file(config) if config else None) or DEFAULT_GUNICORN_CONF
    text = project.text(relative)
    literals = {} if text is None else project.python_literals(relative)
    where = at(SERVICE_JSON, "containers", 0, "script" if "script" in (project.container or {}) else "command")
    return Gunicorn(where, relative, options, literals)


def _option(token: str, following: str) -> tuple[Optional[str], str]:
    """The setting a command-line word sets and its value: ``--bind X``, ``--bind=X``, ``-bX``."""
    if token in OPTIONS:
        return OPTIONS[token], following
    if token.startswith("--") and "=" in token:
        name, value = token.split("=", 1)
        return OPTIONS.get(name), value
    if token.startswith("-") and not token.startswith("--") and token[:2] in OPTIONS and len(token) > 2:
        return OPTIONS[token[:2]], token[2:]
    return None, ""

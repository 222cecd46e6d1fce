"""Remove what the chosen options do not need, then say what to do next.

Runs inside the new project directory. The answers arrive as JSON data, as in the pre-generation hook.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

ANSWERS: dict[str, Any] = json.loads(r"""{{ cookiecutter | tojson }}""")

# What each disabled option takes away: no dead code, no unused dependency, no test of a missing route.
ONLY_WITH = {
    "oss": [
        "mount/app/routes/oss.py",
        "mount/app/oss_client.py",
        "mount/list_oss_objects.py",
        "tests/test_oss_routes.py",
        "tests/test_seed_example_oss.py",
        "tests/seed_examples/example1_oss.py",
    ],
    "maxcompute": [
        "mount/app/routes/maxcompute.py",
        "mount/app/maxcompute_client.py",
        "mount/list_maxcompute_tables.py",
        "local_eas/maxcompute",
        "tests/test_maxcompute_routes.py",
        "tests/test_local_maxcompute.py",
        "tests/test_seed_example_maxcompute.py",
        "tests/seed_examples/example2_maxcompute.py",
    ],
    "maxcompute_sql": [
        "mount/app/routes/maxcompute_sql.py",
        "mount/app/sql_guard.py",
        "tests/test_sql_guard.py",
        "tests/test_maxcompute_sql_routes.py",
    ],
    "role": [
        "mount/app/credentials.py",
        "mount/app/routes/credentials.py",
        "tests/test_credentials.py",
        "tests/test_credentials_routes.py",
        "ram",
    ],
    "handlers": ["mount/app/params.py", "mount/app/retries.py"],
    # The PAI default role is built in: nobody creates it, edits its trust policy or passes it.
    "custom_role": ["ram/trust-policy.json", "ram/passrole-policy.json"],
}
# Never part of a generated project, even when the template directory has them (from running its tests).
LEFTOVERS = ("__pycache__", ".pytest_cache", ".ruff_cache", ".local-eas", ".venv")


def remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def main() -> None:
    project = Path.cwd()
    enabled = {
        "oss": bool(ANSWERS["oss"]),
        "maxcompute": bool(ANSWERS["maxcompute"]),
        "maxcompute_sql": bool(ANSWERS["maxcompute"]) and bool(ANSWERS["maxcompute_sql"]),
        "role": ANSWERS["role"] != "none",
        "custom_role": ANSWERS["role"] == "custom",
        "handlers": bool(ANSWERS["oss"]) or bool(ANSWERS["maxcompute"]),
    }
    for option, paths in ONLY_WITH.items():
        if not enabled[option]:
            for relative in paths:
                remove(project / relative)
    for name in LEFTOVERS:
        for path in sorted(project.rglob(name), reverse=True):
            remove(path)
    seed_examples = project / "tests" / "seed_examples"
    if seed_examples.is_dir() and not any(seed_examples.iterdir()):
        seed_examples.rmdir()

    service = ANSWERS["service"]
    print(
        f"""
Created {service}/ — an EAS service with its local EAS.

Next steps:
  cd {service}
  make dev      # the service on the local EAS: credentials, OSS and gunicorn on 127.0.0.1
  make test     # its tests, against the local EAS

Read README.md for deploying, and ram/README.md for the RAM role."""
    )


if __name__ == "__main__":
    main()

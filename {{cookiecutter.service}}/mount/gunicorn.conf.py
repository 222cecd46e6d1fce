"""gunicorn settings, read from the mounted directory (/mnt/data/ on EAS).

The bind address is not here: it is in service.json's run command, next to ``containers[0].port``,
so the two are seen (and checked) together.
"""

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from app.logs import logging_config  # noqa: E402 - needs the mounted directory on sys.path

wsgi_app = "app:create_app()"
chdir = HERE
# gevent, with JSON error pages (app/server.py): a connection costs a greenlet, not a thread, so slow clients
# cannot take every thread. Each worker serves up to worker_connections at once, then waits to accept more.
worker_class = "app.server.ServiceWorker"
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "1000"))
# Never preload: SDK clients and their pools must be created in each worker, after the fork.
preload_app = False
timeout = 60  # gevent workers: liveness of the event loop, not a request deadline (docs/production.md)
graceful_timeout = 25  # after SIGTERM; below service.json's metadata.eas.termination_grace_period (30 s)
keepalive = 65  # longer than the gateway's idle timeout, so it never reuses a connection we closed
logconfig_dict = logging_config(os.environ.get("LOG_LEVEL", "INFO"))
accesslog = None  # the app writes one structured line per request


def on_starting(server) -> None:
    """Build the app once, in a child process, before the master binds the port.

    The workers import the routes only after gevent's patch (app/__init__.py), so an app that cannot start
    fails in each worker, after the port is open, and EAS's default readiness check, the port accepting
    connections, would take the new instance as ready and end a rolling update on it. Failing here keeps the
    port closed: the update stops and the instances already serving keep serving.
    """
    built = subprocess.run([sys.executable, "-c", "from app import create_app; create_app()"], cwd=HERE,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if built.returncode:
        sys.stderr.write(built.stderr)
        raise SystemExit("the app does not start (the traceback above says why): gunicorn stops before it listens")

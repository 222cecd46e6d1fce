"""{{ cookiecutter.project_name }}: the Flask application factory.

gunicorn calls ``create_app()`` in each worker (no preload), and every SDK client is created on first
use in that worker, after the fork. ``GET /openapi.json`` describes the routes of the blueprints:
health{% if cookiecutter.role != 'none' %}, credentials{% endif %}{% if cookiecutter.oss %}, oss{% endif %}
{%- if cookiecutter.maxcompute %}, maxcompute{% endif %}{% if cookiecutter.maxcompute_sql %}, maxcompute_sql{% endif %}.
"""

from __future__ import annotations

from typing import Optional

from flask import Flask

from .config import Config
from .errors import register_error_handlers
{%- if cookiecutter.role != 'none' %}
from .lazy import PerProcess
{%- endif %}
from .logs import register_request_log
from .openapi import bp as openapi_bp
from .raw_path import RawPathInfo


def create_app(config: Optional[Config] = None) -> Flask:
    # The blueprints are imported here, in the worker, as Flask's tutorial does: gunicorn's master imports this
    # package (for gunicorn.conf.py and the worker class) before the worker's gevent patch, and a route's
    # module-level `import requests` there would bind the unpatched ssl classes: every HTTPS call to the
    # cloud's endpoints would then fail with RecursionError (gevent#1016, gunicorn#2796).
{%- if cookiecutter.role != 'none' %}
    from .routes import credentials as credentials_routes
{%- endif %}
    from .routes import health
{%- if cookiecutter.maxcompute %}
    from .routes import maxcompute as maxcompute_routes
{%- endif %}
{%- if cookiecutter.maxcompute_sql %}
    from .routes import maxcompute_sql as maxcompute_sql_routes
{%- endif %}
{%- if cookiecutter.oss %}
    from .routes import oss as oss_routes
{%- endif %}

    config = config or Config.from_environ()
    app = Flask(__name__, static_folder=None)
    app.url_map.merge_slashes = False  # an object key is taken as written, not "corrected" by a redirect
    app.wsgi_app = RawPathInfo(app.wsgi_app)  # type: ignore[method-assign]
    app.config["SERVICE"] = config
    app.json.sort_keys = False  # type: ignore[attr-defined]
    register_error_handlers(app)
    register_request_log(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(openapi_bp)
{%- if cookiecutter.role != 'none' %}

    credentials = PerProcess(lambda: _create_credentials(config))
    app.extensions["credentials"] = credentials
    app.register_blueprint(credentials_routes.bp)
{%- endif %}
{%- if cookiecutter.oss %}

    config.require_oss()
    app.extensions["oss_objects"] = PerProcess(lambda: _create_oss_objects(config, credentials.get()))
    app.register_blueprint(oss_routes.bp)
{%- endif %}
{%- if cookiecutter.maxcompute %}

    config.require_maxcompute()
    app.extensions["maxcompute_tables"] = PerProcess(lambda: _create_maxcompute_tables(config, credentials.get()))
    app.register_blueprint(maxcompute_routes.bp)
{%- endif %}
{%- if cookiecutter.maxcompute_sql %}
    app.register_blueprint(maxcompute_sql_routes.bp)
{%- endif %}
    return app
{%- if cookiecutter.role != 'none' %}


# The SDKs take ~0.5 s each to import: import them on the first request that needs them, so the
# worker starts (and answers /health) fast.
def _create_credentials(config: Config):
    from .credentials import create_credentials

    return create_credentials(config.credentials_file)
{%- endif %}
{%- if cookiecutter.oss %}


def _create_oss_objects(config: Config, credentials):
    from .oss_client import create_oss_objects

    return create_oss_objects(config, credentials)
{%- endif %}
{%- if cookiecutter.maxcompute %}


def _create_maxcompute_tables(config: Config, credentials):
    from .maxcompute_client import create_maxcompute_tables

    return create_maxcompute_tables(config, credentials)
{%- endif %}

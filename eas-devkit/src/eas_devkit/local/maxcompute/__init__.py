"""A local stand-in for Alibaba Cloud MaxCompute (ODPS) that the unmodified pyodps SDK talks to on 127.0.0.1.

    catalog = Catalog(state_dir / "maxcompute")      # projects and tables persist in SQLite under it
    catalog.create_project("demo")
    seed_demo_tables(catalog, "demo")                # iris, and sales partitioned by ds
    load_table(catalog, "demo", "events", Path("events.csv"))
    app = create_maxcompute_app(catalog, issuer, region="cn-hangzhou", authorize=None)
    server = LoopbackServer(app, name="maxcompute").start()
    o = ODPS(account, project="demo", endpoint=server.url + "/api", logview_host="http://127.0.0.1:1")
"""

from __future__ import annotations

from .app import MaxComputeApp, create_maxcompute_app
from .catalog import Catalog, Column, TableSchema
from .errors import OdpsError, SqlError
from .loader import load_table, seed_demo_tables

__all__ = ["Catalog", "Column", "MaxComputeApp", "OdpsError", "SqlError", "TableSchema", "create_maxcompute_app",
           "load_table", "seed_demo_tables"]

"""A local stand-in for Alibaba Cloud MaxCompute (ODPS) that the unmodified pyodps SDK talks to on 127.0.0.1.

    catalog = Catalog(state_dir / "maxcompute")      # .catalog: projects and tables persist in SQLite under it
    catalog.create_project("demo")
    create_demo_tables(catalog, "demo")              # .loader: iris, and sales partitioned by ds
    load_table(catalog, "demo", "events", Path("events.csv"))
    app = create_maxcompute_app(catalog, issuer, region="cn-hangzhou", authorize=None)   # .app
    server = LoopbackServer(app, name="maxcompute").start()
    o = ODPS(account, project="demo", endpoint=server.url + "/api", logview_host="http://127.0.0.1:1")

Import from the modules: the package imports nothing, so that the command line (``load-table`` is in
:mod:`.cli`) does not pay for pyodps, 0.3 s, on every command.
"""

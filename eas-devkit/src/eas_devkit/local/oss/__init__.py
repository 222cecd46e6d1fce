"""A local stand-in for Alibaba Cloud OSS that the unmodified oss2 SDK talks to over HTTP on 127.0.0.1.

    store = ObjectStore(root)                     # buckets persist under root
    store.create_bucket("my-bucket")
    store.put_bytes("my-bucket", "data/a.csv", b"...")
    app = create_oss_app(store, issuer, region="cn-hangzhou", authorize=None)
    server = LoopbackServer(app, name="oss").start()
    bucket = oss2.Bucket(oss2.ProviderAuth(provider), server.url, "my-bucket")
"""

from __future__ import annotations

from .app import OssApp, create_oss_app
from .errors import OssError
from .storage import ObjectInfo, ObjectStore

__all__ = ["ObjectInfo", "ObjectStore", "OssApp", "OssError", "create_oss_app"]

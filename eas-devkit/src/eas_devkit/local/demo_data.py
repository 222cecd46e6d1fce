"""The demo bucket's first objects: small, readable, and enough to show listing, paging and ranges."""

from __future__ import annotations

from .oss import ObjectStore

IRIS = b"""sepal_length,sepal_width,petal_length,petal_width,species
5.1,3.5,1.4,0.2,setosa
4.9,3.0,1.4,0.2,setosa
7.0,3.2,4.7,1.4,versicolor
6.4,3.2,4.5,1.5,versicolor
6.3,3.3,6.0,2.5,virginica
5.8,2.7,5.1,1.9,virginica
"""

DEMO_OBJECTS = {
    "hello.txt": (b"Hello from the local EAS!\n", "text/plain"),
    "datasets/iris.csv": (IRIS, "text/csv"),
    "models/README.md": (b"# Models\n\nPut model files here; the service streams them.\n", "text/markdown"),
    "reports/2026-11.json": (b'{"requests": 0, "errors": 0}\n', "application/json"),
}


def put_demo_objects(store: ObjectStore, bucket: str, prefix: str = "") -> list[str]:
    """Put the demo objects under ``prefix``; returns their keys."""
    keys = []
    for name, (data, content_type) in DEMO_OBJECTS.items():
        store.put_bytes(bucket, prefix + name, data, content_type=content_type)
        keys.append(prefix + name)
    return keys

"""``eas-devkit bench`` (``make bench``): measure the service against the local EAS and write BENCHMARKS.md.

Development only (part of the dev kit, never uploaded to EAS). Every figure is the median
of several runs, and every comparison is measured side by side in the same run against the same local EAS:

    credential_fetches  credentials-endpoint hits of the service vs a naive handler (naive_app.py)
    overhead            4 KiB GETs through the service vs oss2 calling the local OSS directly
    streaming           a large object down and up through the service vs oss2 streaming directly
    cold_start          gunicorn start to the first /health, OSS list and MaxCompute list
    maxcompute          a 10,000-row read through the service (JSON, NDJSON) vs pyodps directly
"""

"""The JSON Schema of the EAS service configuration (``service.json``), as the console and CreateService take it.

The local control plane refuses a service that does not match it; the doctor reports each violation.
"""

from pathlib import Path

SERVICE_SCHEMA = Path(__file__).with_name("service.schema.json")

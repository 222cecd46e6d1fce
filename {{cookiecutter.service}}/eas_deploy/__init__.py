"""The deploy tooling of the service, run on the developer's machine: ``python -m eas_deploy <command>``.

Nothing here is uploaded to OSS or runs in EAS: only ``mount/`` is mounted into the instance. Commands:

- ``check``: the doctor (``doctor.py``), a static check of ``service.json``, ``ram/`` and ``mount/`` against
  what EAS and RAM will do with them. It never opens a socket.
"""

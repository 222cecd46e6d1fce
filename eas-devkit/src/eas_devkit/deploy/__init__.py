"""The deploy tooling of the service, run on the developer's machine: ``eas-devkit <command>``.

Nothing here is uploaded to OSS or runs in EAS: only ``mount/`` is mounted into the instance. Commands:

- ``check``: the doctor (``doctor/``), a static check of ``service.json``, ``ram/`` and ``mount/`` against
  what EAS and RAM will do with them. It never opens a socket.
- ``deploy``, ``status``, ``events``, ``delete`` (``commands.py``): the control plane through
  ``alibabacloud_eas20210701`` (``eas.py``), the code upload through ``oss2`` (``upload.py``), known failures
  and their fixes (``fixes.py``), on the local EAS or in the cloud (``target.py``, ``EAS_TARGET``), for the
  environment ``EAS_ENV`` selects (``eas_devkit.service_config``).
"""

"""The EAS dev kit: everything around a PAI-EAS service that its team does not own.

- ``eas_devkit.local``: the local EAS (instance credentials, OSS, MaxCompute, the RAM model, the control plane
  and gateway, faults), all on 127.0.0.1;
- ``eas_devkit.deploy``: the doctor (``check``), ``deploy``, ``status``, ``events`` and ``delete``, against the
  local EAS or PAI-EAS;
- ``eas_devkit.bench``: the benchmarks;
- ``eas_devkit.pytest_plugin``: what a service's tests need (the local EAS started for the project, one
  hermetic environment);
- ``eas_devkit.cli``: the ``eas-devkit`` command, which takes the project directory (default: the current one).
"""

__version__ = "0.1.0"

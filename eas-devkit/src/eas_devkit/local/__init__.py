"""The local EAS: PAI-EAS and the cloud services a service instance uses, on 127.0.0.1 (``eas-devkit local``).

:mod:`.stack` starts everything for a project directory: the instance credentials (:mod:`.credentials`),
OSS (:mod:`.oss`), MaxCompute (:mod:`.maxcompute`), the RAM model (:mod:`.ram`), the EAS control plane and
gateway (:mod:`.control_plane`), backend faults (:mod:`.faults`) and the service instance (:mod:`.instance`);
:mod:`.cli` is its command line.
"""

STATE_DIR = ".local-eas"  # where a project's local EAS keeps its state, unless told otherwise (--state-dir)

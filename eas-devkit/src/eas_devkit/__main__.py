"""``python -m eas_devkit``: the same as the ``eas-devkit`` command."""

import sys

from .cli import main

sys.exit(main())

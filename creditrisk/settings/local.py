"""``make run`` on a bare machine: DEBUG on, SQLite and the filesystem broker unless configured."""

import os

os.environ.setdefault("DEBUG", "true")

from creditrisk.settings.base import *  # noqa: E402,F403

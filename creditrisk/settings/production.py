"""Production: DEBUG off, SECRET_KEY required, hosts from ALLOWED_HOSTS."""

from creditrisk.settings.base import *  # noqa: F403

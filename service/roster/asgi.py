"""The ASGI application object: `hypercorn roster.asgi:app`."""

import sys

from .app import create_app
from .settings import Settings, SettingsError

try:
    settings = Settings.from_env()
except SettingsError as error:  # one line for the operator, not a traceback
    sys.exit(f"roster: {error}")

app = create_app(settings)

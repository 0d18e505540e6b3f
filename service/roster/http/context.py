"""What the HTTP layer reads of the app it serves: its settings (from the start) and its runtime
(once serving has begun). The one way configuration reaches a request."""

from __future__ import annotations

from quart import Quart, current_app

from ..runtime import Runtime
from ..settings import Settings

SETTINGS = "roster.settings"
RUNTIME = "roster.runtime"


def attach_settings(app: Quart, settings: Settings) -> None:
    app.extensions[SETTINGS] = settings


def settings() -> Settings:
    value: Settings = current_app.extensions[SETTINGS]
    return value


def runtime() -> Runtime:
    value: Runtime = current_app.extensions[RUNTIME]
    return value

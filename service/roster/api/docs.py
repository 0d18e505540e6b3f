"""`/docs`: Swagger UI over /openapi.json, its assets served by Roster (no internet needed)."""

from __future__ import annotations

from quart import Blueprint, Response, render_template_string, send_from_directory, url_for
from quart_schema import hide
from swagger_ui_bundle import swagger_ui_path

blueprint = Blueprint("docs", __name__)
ASSETS = "/docs/assets"
PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{{ title }}</title>
  <link rel="stylesheet" href="{{ assets }}/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui" data-openapi="{{ openapi }}"></div>
  <script src="{{ assets }}/swagger-ui-bundle.js"></script>
  <script src="{{ start }}"></script>
</body>
</html>
"""
# The page's own script, a file of its own: the policy below allows no inline script.
START = """window.ui = SwaggerUIBundle({
  url: document.getElementById("swagger-ui").dataset.openapi,
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
  showExtensions: true,
  showCommonExtensions: true
});
"""
# Scripts from Roster only; Swagger UI sets inline styles; its requests go to Roster only; the
# page is never framed (clickjacking).
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
PAGE_HEADERS = {"Content-Security-Policy": POLICY, "X-Frame-Options": "DENY"}


@blueprint.get("/docs")
@hide
async def docs() -> Response:
    """The interactive documentation page (standards mode: it starts with a doctype)."""
    page = await render_template_string(
        PAGE,
        title="Roster API",
        assets=ASSETS,
        openapi=url_for("openapi"),
        start=url_for("docs.start"),
    )
    return Response(page, content_type="text/html; charset=utf-8", headers=PAGE_HEADERS)


@blueprint.get("/docs/start.js")
@hide
async def start() -> Response:
    """The page's own script: Swagger UI on /openapi.json."""
    return Response(START, content_type="text/javascript; charset=utf-8")


@blueprint.get(f"{ASSETS}/<path:filename>")
@hide
async def asset(filename: str) -> Response:
    """Swagger UI's files, from the installed swagger-ui-bundle package."""
    return await send_from_directory(swagger_ui_path, filename)

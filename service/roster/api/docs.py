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
  <div id="swagger-ui"></div>
  <script src="{{ assets }}/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({
      url: "{{ openapi }}",
      dom_id: "#swagger-ui",
      deepLinking: true,
      presets: [SwaggerUIBundle.presets.apis],
      layout: "BaseLayout",
      showExtensions: true,
      showCommonExtensions: true
    });
  </script>
</body>
</html>
"""


@blueprint.get("/docs")
@hide
async def docs() -> Response:
    """The interactive documentation page (standards mode: it starts with a doctype)."""
    page = await render_template_string(
        PAGE, title="Roster API", assets=ASSETS, openapi=url_for("openapi")
    )
    return Response(page, content_type="text/html; charset=utf-8")


@blueprint.get(f"{ASSETS}/<path:filename>")
@hide
async def asset(filename: str) -> Response:
    """Swagger UI's files, from the installed swagger-ui-bundle package."""
    return await send_from_directory(swagger_ui_path, filename)

"""Regenerate `roster_client/models.py` from the server's OpenAPI document, or (`--check`) fail
when the checked-in models differ from what the document generates now.

The models come from datamodel-code-generator (pinned in the server's dev dependencies), fed
the document the server in this checkout serves at /openapi.json.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODELS = HERE / "roster_client" / "models.py"
GENERATOR = Path(sys.executable).parent / "datamodel-codegen"
OPTIONS = (
    "--input-file-type", "openapi",
    "--output-model-type", "pydantic_v2.BaseModel",
    "--target-python-version", "3.11",
    "--use-annotated",
    "--field-constraints",
    "--use-standard-collections",
    "--use-union-operator",
    "--enum-field-as-literal", "all",
    "--use-double-quotes",
    "--disable-timestamp",
    "--formatters", "ruff-format",
    "--custom-file-header",
    '"""Generated from Roster\'s /openapi.json by datamodel-code-generator: do not edit.\n\n'
    'Regenerate with `python client/generate.py`; a test fails when this file and the\n'
    'document differ."""',
)  # fmt: skip


async def openapi_document() -> bytes:
    """The document the server in this checkout serves (in process, on a throwaway database)."""
    from roster.app import create_app
    from roster.settings import Settings

    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite+aiosqlite:///{directory}/openapi.db"
        settings = Settings(database_url=url, log_level="WARNING", metrics_enabled=False)
        app = create_app(settings)
        async with app.test_app() as running:
            response = await running.test_client().get("/openapi.json")
            document: bytes = await response.get_data(as_text=False)
            return document


def generate(document: bytes) -> str:
    with tempfile.TemporaryDirectory() as directory:
        source, target = Path(directory) / "openapi.json", Path(directory) / "models.py"
        source.write_bytes(document)
        subprocess.run(  # noqa: S603 (our own generator, our own arguments)
            [str(GENERATOR), "--input", str(source), "--output", str(target), *OPTIONS],
            check=True,
            capture_output=True,
            timeout=120,
        )
        return target.read_text(encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    models = generate(asyncio.run(openapi_document()))
    if not args.check:
        MODELS.write_text(models, encoding="utf-8")
        return 0
    if MODELS.read_text(encoding="utf-8") != models:
        print(f"{MODELS} differs from the server's /openapi.json: run python client/generate.py")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

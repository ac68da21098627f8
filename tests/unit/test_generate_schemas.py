"""The committed schemas and references.json are exactly what the generator writes from the OpenAPI file."""

from __future__ import annotations

from contextlib import redirect_stdout
from io import StringIO
from pathlib import Path

import pytest

from scripts import generate_schemas

SCHEMAS = Path(generate_schemas.__file__).resolve().parent.parent / "tap_daktela" / "schemas"
OPENAPI = next(
    (
        folder / "daktela-api" / "openapi.json"
        for folder in (Path(__file__).resolve().parents[3] / "shared", Path("/work/shared"))
        if (folder / "daktela-api" / "openapi.json").is_file()
    ),
    None,
)


@pytest.mark.skipif(OPENAPI is None, reason="openapi.json not present")
def test_generator_reproduces_the_committed_files(tmp_path):
    with redirect_stdout(StringIO()):
        generate_schemas.main(str(OPENAPI), str(tmp_path))
    written = sorted(path.name for path in tmp_path.iterdir())
    assert written == sorted(path.name for path in SCHEMAS.glob("*.json"))
    for name in written:
        assert (tmp_path / name).read_bytes() == (SCHEMAS / name).read_bytes(), name

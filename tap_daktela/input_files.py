"""Which input file of the command line (`--config`, `--catalog`, `--state`) is not valid JSON.

The SDK reads those files itself and its decode error names neither the file nor the option; after such an
error the command line reads them again to say which one it was.
"""

from __future__ import annotations

import json
import typing as t
from pathlib import Path

FILE_OPTIONS = ("--config", "--catalog", "--state")


def named_files(argv: t.Sequence[str]) -> list[tuple[str, str]]:
    """(option, path) for each file option in `argv` (`--config x` and `--config=x`); `--config ENV` is none."""
    found = []
    for index, arg in enumerate(argv):
        option, equals, value = arg.partition("=")
        if option not in FILE_OPTIONS:
            continue
        if not equals:
            value = argv[index + 1] if index + 1 < len(argv) else ""
        if value and value != "ENV":
            found.append((option, value))
    return found


def invalid_json_file(argv: t.Sequence[str]) -> str | None:
    """`--state file /x/state.json is not valid JSON: Expecting value at line 1, column 5`, for the first named
    file that is not JSON; None when every one is (or cannot be read: the SDK says so itself)."""
    for option, path in named_files(argv):
        try:
            json.loads(Path(path).read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            return f"{option} file {path} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        except UnicodeDecodeError:
            return f"{option} file {path} is not UTF-8 text"
        except OSError:
            continue
    return None

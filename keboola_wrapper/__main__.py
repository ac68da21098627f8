"""Entry point: `python -m keboola_wrapper` (KBC_DATADIR points at the data folder). Exit 1 user error, 2 internal."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

from keboola.component.exceptions import UserException

from .component import Component, InternalError, RunInterrupted


def check_config_file() -> None:
    """A config.json that is not a JSON object is a user error of one line (the library would raise a traceback)."""
    data_dir = os.environ.get("KBC_DATADIR")
    path = Path(data_dir) / "config.json" if data_dir else None
    if path is None or not path.is_file():
        return  # the library reports a missing data folder or file itself
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise UserException("config.json is not UTF-8 text.") from None
    except json.JSONDecodeError as exc:
        raise UserException(
            f"config.json is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
        ) from None
    if not isinstance(config, dict):
        kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(config), "a number")
        raise UserException(f"config.json must hold a JSON object, not {kind}.")


def main() -> int:
    """Run the configured action and map failures to Keboola's exit codes with one clear line."""
    try:
        check_config_file()
        Component().execute_action()
    except UserException as exc:
        logging.getLogger().error("%s", exc)
        return 1
    except RunInterrupted as exc:  # a cancelled run must not look like a good one
        logging.getLogger().error("%s", exc)
        return exc.exit_code
    except InternalError as exc:  # already a precise one-line reason (e.g. a tap crash); details are in debug logs
        logging.getLogger().error("%s", exc)
        return 2
    except Exception:
        logging.getLogger().exception("Internal error")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

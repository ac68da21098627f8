"""Entry point: `python -m keboola_wrapper` (KBC_DATADIR points at the data folder). Exit 1 user error, 2 internal."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

from keboola.component.exceptions import UserException

from .component import Component, InternalError, RunInterrupted


def data_folder() -> Path:
    """The data folder as the library finds it: `KBC_DATADIR`, else `../data` (its local-development default)."""
    return Path(os.environ.get("KBC_DATADIR") or Path.cwd().resolve().parent / "data")


def check_config_file() -> None:
    """A missing data folder or config.json, or a config.json that is not a JSON object, is a user error of one
    line (the library would raise a traceback)."""
    folder = data_folder()
    if not folder.is_dir():
        if os.environ.get("KBC_DATADIR"):
            raise UserException(f"KBC_DATADIR points at {folder}, which is not a folder: set it to the data folder.")
        raise UserException(
            f"KBC_DATADIR is not set and the default data folder {folder} (../data) does not exist: set KBC_DATADIR "
            "to the data folder (the folder with config.json)."
        )
    path = folder / "config.json"
    if not path.is_file():
        raise UserException(f"config.json is missing in the data folder {folder}.")
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

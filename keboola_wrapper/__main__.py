"""Entry point: `python -m keboola_wrapper` (KBC_DATADIR points at the data folder). Exit 1 user error, 2 internal."""

from __future__ import annotations

import logging
import sys

from keboola.component.exceptions import UserException

from .component import Component, InternalError


def main() -> int:
    """Run the configured action and map failures to Keboola's exit codes with one clear line."""
    try:
        Component().execute_action()
    except UserException as exc:
        logging.getLogger().error("%s", exc)
        return 1
    except InternalError as exc:  # already a precise one-line reason (e.g. a tap crash); details are in debug logs
        logging.getLogger().error("%s", exc)
        return 2
    except Exception:
        logging.getLogger().exception("Internal error")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

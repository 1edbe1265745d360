"""``python -m channelsync.daemon [OPTIONS]`` is ``channelsync run [OPTIONS]``."""

from __future__ import annotations

import sys

from channelsync.cli.main import cli

if __name__ == "__main__":
    cli(["run", *sys.argv[1:]], prog_name="channelsync")

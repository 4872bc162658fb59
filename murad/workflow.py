"""What every ``workflow/scripts/*.py`` shares: logging into the rule's log file and one-line errors."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from .config import ConfigError
from .mura import MuraFormatError

EXPECTED_ERRORS = (MuraFormatError, ConfigError, FileNotFoundError)


def setup_logging(log_path: str | None = None) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        handlers.append(logging.FileHandler(log_path, mode="w"))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", handlers=handlers, force=True)


def run_job(snakemake, job: Callable[..., object], **kwargs) -> None:
    """Run ``job(**kwargs)`` for a Snakemake ``script:``; bad input ends it with one line naming the file or key."""
    setup_logging(snakemake.log[0] if snakemake.log else None)
    try:
        job(**kwargs)
    except EXPECTED_ERRORS as error:
        logging.getLogger("murad").error("%s", error)
        sys.exit(1)

"""What every ``workflow/scripts/*.py`` shares: logging into the rule's log file and one-line errors."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from .errors import InputError, Preempted

EXPECTED_ERRORS = (InputError, FileNotFoundError)
PREEMPTED_EXIT_CODE = 143  # 128 + SIGTERM: what a shell reports for a job ended by SIGTERM


def setup_logging(log_path: str | None = None) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        handlers.append(logging.FileHandler(log_path, mode="w"))
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", handlers=handlers, force=True
    )


def run_job(snakemake, job: Callable[..., object], **kwargs) -> None:
    """Run ``job(**kwargs)`` for a Snakemake ``script:``; bad input ends it with one line naming the file or key."""
    run_logged(job, snakemake.log[0] if snakemake.log else None, **kwargs)


def run_logged(job: Callable[..., object], log_path: str | None, **kwargs) -> object:
    """Run ``job(**kwargs)`` logging to ``log_path`` and return what it returns; exit 1 on bad input (one line),
    143 when stopped by SIGTERM (resumable), and 1 on any other error, its traceback in the log and a one-line
    summary last. Python's warnings (a non-deterministic CUDA operation, say) go to the log too."""
    setup_logging(log_path)
    logging.captureWarnings(True)
    log = logging.getLogger("murad")
    try:
        return job(**kwargs)
    except EXPECTED_ERRORS as error:
        log.error("%s", error)
        sys.exit(1)
    except Preempted as stop:
        log.warning("%s; checkpoint saved, run the same command again to resume", stop)
        sys.exit(PREEMPTED_EXIT_CODE)
    except Exception as error:
        log.error("unexpected error, its traceback:", exc_info=True)
        log.error("%s: %s", type(error).__name__, str(error).splitlines()[0] if str(error) else "(no message)")
        sys.exit(1)

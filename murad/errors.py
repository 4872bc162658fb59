"""Errors about bad input: their message is one line naming the offending file, path or key."""


class InputError(ValueError):
    """Bad input (a dataset, a table, a configuration); the message names the file, path or key."""


class Preempted(Exception):
    """Training stopped by SIGTERM (walltime, preemption, scancel); its resume checkpoint is on disk."""

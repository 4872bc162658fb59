"""The workflow's jobs as plain functions of file paths: one module per ``workflow/rules/<stage>.smk``, one function
per rule, with the rule's name (``workflow/scripts/<rule>.py`` calls it). Each reads its inputs, calls the package's
ML logic, and writes every output all-or-nothing."""

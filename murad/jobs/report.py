"""The jobs of workflow/rules/report.smk: the paper's tables, the figures, the environment."""

from __future__ import annotations

import logging
from pathlib import Path

from ..io import staged_outputs, write_csv

log = logging.getLogger("murad")


def environment(meta_jsons: dict[str, str], config: dict, table_csv: str, table_html: str, config_yaml: str) -> None:
    """The report's environment: versions, commit, machine, each model's device; and the resolved config."""
    import yaml

    from ..provenance import environment_table
    from ..tables import to_html

    table = environment_table(meta_jsons)
    with staged_outputs(table_csv, table_html, config_yaml) as (table_path, html_path, config_path):
        write_csv(table, table_path)
        Path(html_path).write_text(to_html(table, "The environment of this run"))
        with open(config_path, "w") as handle:
            yaml.safe_dump(config, handle, sort_keys=True)
    log.info("environment: %d rows; config with %d sections", len(table), len(config))

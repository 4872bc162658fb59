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


def tables(
    split_table2_csv: str,
    metrics_csvs: dict[str, str],
    meta_jsons: dict[str, str],
    members_csv: str | None,
    table_files: dict[str, str],
    comparisons_csv: str | None = None,
    calibration_csvs: dict[str, str] | None = None,
    operating_points_csvs: dict[str, str] | None = None,
) -> None:
    """The paper's Tables 2, 3 and 4 and our Table 5, each as ``table_files["table<n>_<format>"]`` (csv, md, tex,
    html)."""
    from ..result_names import TABLE_FORMATS, TABLES
    from ..tables import paper_tables, write_table

    built = paper_tables(
        split_table2_csv,
        metrics_csvs,
        meta_jsons,
        members_csv,
        comparisons_csv,
        calibration_csvs,
        operating_points_csvs,
    )
    keys = [f"table{n}_{ext}" for n in TABLES for ext in TABLE_FORMATS]
    with staged_outputs(*(table_files[key] for key in keys)) as staged:
        files = dict(zip(keys, staged, strict=True))
        for n, (table, shown, caption) in built.items():
            write_table(table, shown, caption, {ext: files[f"table{n}_{ext}"] for ext in TABLE_FORMATS})
    log.info("tables %s: %d models and ensembles", ", ".join(map(str, built)), len(metrics_csvs))


def figures(
    studies_csvs: dict[str, str],
    history_csvs: dict[str, str],
    table3_csv: str,
    table4_csv: str,
    table5_csv: str,
    figure_files: dict[str, str],
    style: str,
    palette: str,
    dpi: int,
) -> None:
    """Every figure of the report, each as ``figure_files["<name>_<format>"]`` (png, svg)."""
    import pandas as pd

    from ..figures import figure_drawers
    from ..plotting import apply_style, save_figure
    from ..prediction_tables import read_study_table
    from ..result_names import FIGURE_FORMATS, FIGURES

    apply_style(style, palette)
    drawers = figure_drawers(
        {name: read_study_table(path) for name, path in studies_csvs.items()},
        {model: pd.read_csv(path) for model, path in history_csvs.items()},
        pd.read_csv(table3_csv),
        pd.read_csv(table4_csv),
        pd.read_csv(table5_csv),
    )
    keys = [f"{name}_{ext}" for name in FIGURES for ext in FIGURE_FORMATS]
    with staged_outputs(*(figure_files[key] for key in keys)) as staged:
        files = dict(zip(keys, staged, strict=True))
        for name in FIGURES:
            save_figure(drawers[name](), *(files[f"{name}_{ext}"] for ext in FIGURE_FORMATS), dpi=dpi)
    log.info("figures: %s", ", ".join(FIGURES))

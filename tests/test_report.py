"""The whole pipeline on a tiny config: tables, figures, ensembles, a byte-stable gather, and the HTML report as
headless Chromium renders it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from murad.result_names import FIGURES

from .conftest import PIPELINE_MODELS as MODELS
from .conftest import snakemake_again

GATHERS = ("ensembles", "tables", "figures")


def gathered(workdir: Path) -> dict[str, bytes]:
    folders = ("results/tables", "results/figures", "results/ensembles", "results/metrics")
    return {
        str(p.relative_to(workdir)): p.read_bytes()
        for f in folders
        for p in sorted((workdir / f).rglob("*"))
        if p.is_file()
    }


def test_the_pipeline_ends_in_tables_figures_and_ensembles(pipeline):
    ensembles = ["ensemble_best_per_body_part", "ensemble_top2_mean"]
    t3 = pd.read_csv(pipeline / "results/tables/table3.csv")
    assert list(t3["model"]) == [*MODELS, *ensembles]
    members = pd.read_csv(pipeline / "results/ensembles/members.csv")
    assert set(members["ensemble"]) == set(ensembles) and set(members["model"]) <= set(MODELS)
    top = members[members["ensemble"] == "ensemble_top2_mean"]
    assert sorted(top["model"]) == sorted(MODELS)
    for name in ensembles:
        metrics = pd.read_csv(pipeline / f"results/metrics/{name}.csv")
        assert metrics["scope"].iloc[0] == "overall" and metrics["n_studies"].iloc[0] == 30
    for name in FIGURES:
        assert (pipeline / f"results/figures/{name}.png").read_bytes()[:4] == b"\x89PNG"
        assert b"<svg" in (pipeline / f"results/figures/{name}.svg").read_bytes()[:2000]
    t4 = (pipeline / "results/tables/table4.html").read_text()
    assert "<table" in t4 and "ensemble_top2_mean" in t4


def test_gathers_rerun_byte_identical(pipeline):
    before = gathered(pipeline)
    result = snakemake_again(pipeline, "-c2", "--forcerun", *GATHERS)
    assert result.returncode == 0, result.stderr[-3000:]
    assert all(f"rule {rule}:" in result.stdout + result.stderr for rule in GATHERS)
    assert gathered(pipeline) == before


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


# Runs inside the report page: open every category, then show each figure and table as a click on its eye button
# does, and write what the page displays into <pre id="murad-check">.
CHECK_SCRIPT = """
<script>
window.addEventListener("load", async function () {
  const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  await wait(1000);
  const check = {categories: {}, images: {}, pages: {}};
  for (const category of Object.keys(categories).sort()) {
    app.showReportInfo();  // leave the previous category first: the list component keeps its rows otherwise
    await wait(500);
    app.showCategory(category);
    await wait(1000);
    check.categories[category] = document.querySelector("#app").innerText;
  }
  for (const path of Object.keys(results).sort()) {
    const mime = getResultMimeType(path);
    if (mime === "image/png" || mime === "image/svg+xml") {
      app.setView({content: "img", contentPath: results[path].data_uri, resultPath: path});
      await wait(1000);
      const img = Array.from(document.images).find((shown) => shown.src === results[path].data_uri);
      check.images[path] = img && img.complete ? img.naturalWidth : 0;
    } else if (mime === "text/html") {
      app.setView({content: "html", contentPath: results[path].data_uri, resultPath: path});
      await wait(1000);
      const frame = document.querySelector("#app iframe");
      const text = frame ? await (await fetch(frame.src)).text() : "";
      check.pages[path] = text;
    }
  }
  const out = document.createElement("pre");
  out.id = "murad-check";
  out.textContent = JSON.stringify(check);
  document.body.appendChild(out);
});
</script>
"""


def test_report_opens_in_headless_chromium_with_tables_and_figures(pipeline, tmp_path):
    browser = chromium()
    if browser is None:
        if os.environ.get("MURAD_CI"):
            pytest.fail("chromium is not installed (.ci/run installs it)")
        pytest.skip("chromium not installed: apt-get install chromium")
    report = pipeline / "results/report.html"
    result = snakemake_again(pipeline, "--report", str(report))
    assert result.returncode == 0, result.stderr[-3000:]
    page = tmp_path / "report_checked.html"
    html = report.read_text()
    head, _, tail = html.rpartition("</body>")  # the page's own end (embedded results may contain the tag too)
    page.write_text(head + CHECK_SCRIPT + "</body>" + tail)
    dom = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--allow-file-access-from-files",
            "--virtual-time-budget=60000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    ).stdout
    found = re.search(r'<pre id="murad-check">(.*?)</pre>', dom, re.S)
    assert found, "the report did not finish rendering in Chromium"
    check = json.loads(
        found.group(1).replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    )
    categories = check["categories"]
    assert set(categories) == {
        "1. Data",
        "2. Tables",
        "3. Figures",
        "4. Ensembles",
        "5. Class activation maps",
        "6. Environment",
        "7. External test sets and subgroups",
    }
    assert "Table 3" in categories["2. Tables"] and "Table 4" in categories["2. Tables"]
    assert all(name.replace("_", " ") in categories["3. Figures"] for name in FIGURES)
    assert all(model in categories["5. Class activation maps"] for model in MODELS)
    for name in FIGURES:  # each figure is displayed (decoded, with its width) when chosen
        assert check["images"][f"results/figures/{name}.png"] > 300, name
        assert check["images"][f"results/figures/{name}.svg"] > 300, name
    external = categories["7. External test sets and subgroups"]  # Table 6 and its figure, Table 7, each set
    assert all(name in external for name in ("generalisation", "subgroups", "synthetic_site")), external
    assert check["images"]["results/figures/generalisation.png"] > 300
    table6 = check["pages"]["results/tables/table6.html"]
    assert "synthetic_site" in table6 and all(model in table6 for model in MODELS)
    assert "Table 7" in check["pages"]["results/tables/table7.html"]
    assert "localization" in check["pages"]["results/cam/external/synthetic_site/localization.html"]
    table3 = check["pages"]["results/tables/table3.html"]
    assert "<table" in table3 and all(model in table3 for model in MODELS)
    assert "torch" in check["pages"]["results/report/environment.html"]
    assert "patient-disjoint tuning split" in dom  # the protocol statement

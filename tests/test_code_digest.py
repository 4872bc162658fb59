"""Which murad code each workflow stage runs (murad.code_digest): every rule's `murad_code` param.

The edits here go into a copy of the package and scripts; tests/test_stale.py checks the same through Snakemake's
own dry run on a finished pipeline.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
from pathlib import Path

import pytest

from murad import code_digest
from murad.code_digest import murad_code_digest, reached_code

from .conftest import REPO, add_statement

SCRIPTS = sorted(path.name for path in (REPO / "workflow/scripts").glob("*.py"))


@pytest.fixture
def project(tmp_path) -> Path:
    """A copy of the package and the rules' scripts to edit."""
    shutil.copytree(REPO / "murad", tmp_path / "murad", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "workflow/scripts", tmp_path / "workflow/scripts")
    return tmp_path


def digests(project: Path) -> dict[str, str]:
    return {script: murad_code_digest(project / "workflow/scripts" / script, project / "murad") for script in SCRIPTS}


def changed(before: dict[str, str], after: dict[str, str]) -> set[str]:
    return {script.removesuffix(".py") for script in before if before[script] != after[script]}


def edit_function(project: Path, module: str, function: str) -> None:
    add_statement(project / "murad" / f"{module}.py", function)


def test_every_rule_with_a_script_passes_the_digest_of_its_own_script():
    rules = {}
    for smk in sorted((REPO / "workflow/rules").glob("*.smk")):
        for block in re.split(r"^\s*rule (?=\w+:$)", smk.read_text(), flags=re.MULTILINE)[1:]:
            name = block.split(":", 1)[0]
            script = re.search(r'script:\s*\n\s*"\.\./scripts/([\w.]+)"', block)
            code = re.search(r'murad_code=murad_code\("([\w.]+)"\)', block)
            rules[name] = (script and script.group(1), code and code.group(1))
    assert rules and all(script for script, _ in rules.values()), rules
    assert {name: script for name, (script, _) in rules.items()} == {name: code for name, (_, code) in rules.items()}
    assert sorted(script for script, _ in rules.values()) == SCRIPTS


@pytest.mark.parametrize(
    "module, function, stages",
    [
        # the bootstrap intervals: the metrics stage and the paired comparison with the best model compute them, and
        # so do the measures of the external sets and of the subgroups
        ("metrics", "resampled_metrics", {"metrics", "compare_to_best", "external_metrics", "subgroups"}),
        ("metrics", "study_metrics", {"metrics", "external_metrics", "subgroups"}),
        # point metrics also give training its tuning kappa, the ensembles and the comparison their choice
        ("metrics", "point_metrics",
         {"metrics", "ensembles", "train", "compare_to_best", "external_metrics", "subgroups"}),
        ("train", "train_model", {"train"}),
        ("inference", "load_trained", {"predict", "cam_maps", "predict_external"}),
        ("data", "build_cache", {"cache_images", "cache_external"}),
        # training's augmentation is training's alone; evaluation only normalises
        ("data", "BatchAugmenter.augment", {"train"}),
        ("data", "Normaliser.standardise", {"train", "predict", "cam_maps", "predict_external"}),
        ("synthetic", "render_image", {"synthesize_mura", "synthesize_site"}),
        ("tables", "to_html", {"tables", "ensembles", "environment", "cam_localization", "external_localization",
                               "generalisation", "subgroups"}),
        ("figures", "kappa_heatmap", {"figures"}),
        ("cam/maps", "compute_maps", {"cam_maps", "predict_external"}),
        ("external", "check_set", {"verify_external"}),
        ("generalisation", "measure_set", {"external_metrics"}),
        # the runner every script calls
        ("job_runner", "run_logged", {script.removesuffix(".py") for script in SCRIPTS}),
    ],
)  # fmt: skip
def test_an_edit_changes_the_digest_of_exactly_the_stages_that_run_it(project, module, function, stages):
    before = digests(project)
    edit_function(project, module, function)
    assert changed(before, digests(project)) == stages


def test_constants_and_imports_count_where_they_are_used(project):
    before = digests(project)
    path = project / "murad/data.py"
    path.write_text(path.read_text().replace("IMAGENET_STD = (0.229, 0.224, 0.225)", "IMAGENET_STD = (0.2, 0.2, 0.2)"))
    assert changed(before, after := digests(project)) == {"train", "predict", "cam_maps", "predict_external"}
    # an import rebinding a name a stage uses: what the name means changed
    path = project / "murad/metrics.py"
    path.write_text(path.read_text().replace("import numpy as np", "import numpy as np\nimport math as np", 1))
    assert "metrics" in changed(after, digests(project))


def test_comments_docstrings_and_formatting_change_nothing(project):
    before = digests(project)
    path = project / "murad/metrics.py"
    source = path.read_text()
    tree = ast.parse(source)
    function = next(node for node in tree.body if getattr(node, "name", None) == "study_metrics")
    docstring = ast.get_docstring(function, clean=False)  # as the source writes it
    assert docstring
    reformatted = "# a comment at the top\n" + source.replace(docstring, docstring + " More words.", 1).replace(
        "def study_metrics(", "def study_metrics(  # a comment on the signature\n    ", 1
    ).replace("\n\n\n", "\n\n\n\n")
    path.write_text(reformatted)
    assert ast.dump(ast.parse(reformatted)) != ast.dump(tree)  # the edit is real
    assert digests(project) == before


def test_a_digest_from_the_cache_is_the_digest_of_the_files_as_they_are_now(project, monkeypatch):
    # the workflow keeps the digests in .snakemake/ so that a dry run does not analyse the code again: an edit of
    # any kind must still be seen, and a cache that is broken or cannot be written must change nothing
    script, package = project / "workflow/scripts/train.py", project / "murad"
    cache = project / ".snakemake/murad_code_digests.json"

    def uncached() -> str:
        return code_digest.murad_code_digest(script, package)

    def cached() -> str:
        return code_digest.murad_code_digest(script, package, cache)

    taken = uncached()
    assert cached() == taken and cache.is_file()
    with monkeypatch.context() as patched:  # the second time it is read, not taken
        patched.setattr(code_digest, "reached_code", lambda *_: pytest.fail("analysed the code again"))
        assert cached() == taken
    # an edit of a module the stage runs, of the same size (the time alone tells it from the cached file)
    path = package / "data.py"
    before = path.stat()
    path.write_text(path.read_text().replace("IMAGENET_STD = (0.229,", "IMAGENET_STD = (0.228,"))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1))
    assert path.stat().st_size == before.st_size
    assert uncached() != taken and cached() == uncached()
    edited = uncached()
    # an edit of the script itself
    script.write_text(script.read_text() + "\nfrom murad.metrics import study_metrics\n")
    assert uncached() != edited and cached() == uncached()
    # a cache that is not JSON is taken anew and written whole; one that cannot be written is left alone
    cache.write_text("{")
    assert cached() == uncached()
    assert json.loads(cache.read_text())
    # a file whose name is not UTF-8 in the package (an editor's or a copy tool's leftover) is stat'ed like any other
    os.close(os.open(os.fsencode(package) + b"/notes-\xff.txt", os.O_CREAT | os.O_WRONLY))
    assert cached() == uncached()
    cache = project / "a file/murad_code_digests.json"
    (project / "a file").write_text("not a folder")
    assert cached() == uncached()
    assert (project / "a file").read_text() == "not a folder"
    assert [path.name for path in (project / ".snakemake").iterdir()] == ["murad_code_digests.json"]  # no temporary


def test_parses_at_once_share_the_cache_and_each_reads_a_whole_one(project):
    # Snakemake on a cluster parses the workflow in every job: many may write the cache at the same moment
    from concurrent.futures import ThreadPoolExecutor

    cache, package = project / ".snakemake/murad_code_digests.json", project / "murad"
    scripts = [project / "workflow/scripts" / script for script in SCRIPTS] * 3
    with ThreadPoolExecutor(8) as pool:
        taken = list(pool.map(lambda script: murad_code_digest(script, package, cache), scripts))
    assert taken == [murad_code_digest(script, package) for script in scripts]
    assert isinstance(json.loads(cache.read_text())["scripts"], dict)
    assert [path.name for path in cache.parent.iterdir()] == [cache.name]  # no temporary left


def test_the_digest_follows_attribute_access_on_an_imported_module(project):
    # jobs.cam does `from ..cam import localization, maps` and calls maps.<name>: the names it calls count, the others
    # not; so the GPU job that computes the maps reaches no drawing code, and the one that draws them no CNN
    scripts, package = project / "workflow/scripts", project / "murad"
    reached = {key.split("#")[0] for key in reached_code(scripts / "cam_maps.py", package)}
    assert {"murad.cam.maps.compute_maps", "murad.cam.localization.score_images", "murad.jobs.cam.cam_maps"} <= reached
    assert "murad.cam.localization.localization_table" not in reached and "murad.jobs.evaluate.metrics" not in reached
    assert not [key for key in reached if key.startswith("murad.cam.rendering")]
    drawing = {key.split("#")[0] for key in reached_code(scripts / "cam_figures.py", package)}
    assert {"murad.cam.rendering.grid_figure", "murad.jobs.cam.cam_figures"} <= drawing
    assert not {"murad.cam.maps.compute_maps", "murad.inference.load_trained", "murad.models.build_model"} & drawing
    before = digests(project)
    edit_function(project, "cam/localization", "localization_table")
    assert changed(before, after := digests(project)) == {"cam_localization", "external_localization"}
    edit_function(project, "cam/rendering", "grid_figure")
    assert changed(after, after := digests(project)) == {"cam_figures"}
    edit_function(project, "cam/maps", "compute_maps")
    assert changed(after, digests(project)) == {"cam_maps", "predict_external"}


TOY_PACKAGE = {  # the import shapes murad.code_digest follows, in a package of its own
    "__init__.py": "",
    "c.py": "def f():\n    return 1\n\n\ndef g():\n    return 2\n",
    "a.py": "from . import c as b  # a module imported under another name, and imported from here again\n",
    "star.py": "from .c import *\n",
    "uses_reexport.py": "from .a import b\n\n\ndef run():\n    return b.f()\n",
    "uses_star.py": "from .star import f\n\n\ndef run():\n    return f()\n",
    "reads.py": (
        "from importlib import resources\n\n\ndef load(name):\n"
        "    return resources.files('murad.reference').joinpath(f'{name}.csv').read_text()\n"
    ),
    "reference/__init__.py": "",
    "reference/table.csv": "a,b\n1,2\n",
    "reference/README.md": "notes\n",
    "elsewhere/table.csv": "a,b\n1,2\n",  # the same file name in a package the code does not name
}
TOY_SCRIPTS = {
    "reexport": "from murad.uses_reexport import run\nrun()\n",
    "star": "from murad.uses_star import run\nrun()\n",
    "whole": "import murad.c\nmurad.c.f()\n",
    "later": "def main():\n    from murad.c import g\n    g()\n",
    "data": "from murad.reads import load\nload('table')\n",
}


@pytest.fixture
def toy(tmp_path) -> Path:
    for name, text in TOY_PACKAGE.items():
        (tmp_path / "murad" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "murad" / name).write_text(text)
    for name, text in TOY_SCRIPTS.items():
        (tmp_path / f"{name}.py").write_text(text)
    return tmp_path


def toy_digests(toy: Path) -> dict[str, str]:
    return {name: murad_code_digest(toy / f"{name}.py", toy / "murad") for name in TOY_SCRIPTS}


@pytest.mark.parametrize(
    "file, old, new, scripts",
    [
        # b.f() through `from .a import b`, where a.b is module c: c.f counts, c.g not
        ("c.py", "return 1", "return 10", {"reexport", "star", "whole"}),
        # a star import takes the whole module; `import murad.c` too; an import inside a function counts
        ("c.py", "return 2", "return 20", {"star", "whole", "later"}),
        # a data file read by package and file name (an f-string); the package's other files do not count
        ("reference/table.csv", "1,2", "1,3", {"data"}),
        ("reference/README.md", "notes", "more notes", set()),
        ("elsewhere/table.csv", "1,2", "1,3", set()),
    ],
)
def test_the_import_shapes_a_stage_can_reach_code_by(toy, file, old, new, scripts):
    before = toy_digests(toy)
    path = toy / "murad" / file
    path.write_text(path.read_text().replace(old, new))
    after = toy_digests(toy)
    assert {name for name in TOY_SCRIPTS if before[name] != after[name]} == scripts

# murad: the MuRAD study (18 CNNs on MURA, study-level abnormality detection, CAM) as a Snakemake workflow.
# This file only includes the stages; see README.md for the DAG and workflow/rules/ for each stage.
from snakemake.utils import min_version

min_version("9.27")


# config.yaml is the configuration unless one is given with --configfile (config.paper.yaml, say), which then
# stands on its own: the demo's models and settings never leak into it. Defaults: workflow/schemas/config.schema.yaml.
if not workflow.overwrite_configfiles:

    configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/split.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/cam.smk"
include: "workflow/rules/external.smk"


rule all:
    default_target: True
    input:
        all_outputs(),

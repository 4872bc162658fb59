#!/usr/bin/env bash
# The GPU path of murad measured on one GPU in about 9 minutes (each part has its own time limit), from the project
# root of a set-up checkout (the venv of the README's quick start):
#
#     bash benchmarks/gpu_check.sh [PYTHON]        # PYTHON: default .venv/bin/python
#
# Prints: the GPU; the loader (uint8 cache -> pinned -> GPU augmentation) against per-image PIL decoding +
# torchvision transforms at 320 px; training images/s of densenet121 and resnet50 at 320 px in fp32, bf16 +
# channels_last and with torch.compile; every model of config.paper.yaml at its batch size (training and evaluation
# images/s, peak GPU memory) and the projected GPU-hours of the paper's configuration, then the same for
# config.modern.yaml's models after the paper; whether training.deterministic gives identical histories, on and off,
# and what it costs in images/s; and a tiny end-to-end run of the workflow (two models at 320 px) through Snakemake on
# the GPU. Goals on an H100-class GPU: densenet121 >= 2,000
# training images/s at 320 px, the loader >= 10x the PIL loader, the 18 models <= 12 GPU-hours.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${1:-.venv/bin/python}
SNAKEMAKE=$(dirname "$PYTHON")/snakemake
status=0

if ! "$PYTHON" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "gpu_check: no CUDA GPU visible to $PYTHON; nothing to measure" >&2
    exit 1
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
"$PYTHON" -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__, 'CUDA', torch.version.cuda)"
echo "CPUs: $(nproc)"

section() { echo; echo "== $1 (limit $2 s)"; SECONDS=0; }
finished() { echo "-- $SECONDS s"; }

section "1. loader at 320 px: murad's cache + GPU augmentation against PIL + torchvision per image" 75
timeout 75 "$PYTHON" benchmarks/loader.py --images 1024 --batch-size 64 --workers "$(nproc)" --device cuda || status=1
finished

section "2-4. training throughput, peak memory, GPU-hours of the paper's configuration" 240
timeout 240 "$PYTHON" benchmarks/gpu_check.py --steps 10 || status=1
finished

section "5. config.modern.yaml's models after the paper at their sizes and batch sizes: memory, GPU-hours" 240
timeout 240 "$PYTHON" benchmarks/gpu_check.py --steps 10 --config config.modern.yaml --beyond-paper || status=1
finished

section "6. training.deterministic: resnet50 at 320 px, 2 epochs of 512 images, twice in each mode" 150
timeout 150 "$PYTHON" benchmarks/determinism.py --model resnet50 --size 320 --images 512 --threads "$(nproc)" || status=1
finished

section "7. the workflow end to end on the GPU: synthetic data, densenet121 and resnet50 at 320 px, 2 epochs" 100
work=$(mktemp -d)
cat > "$work/config.yaml" <<YAML
dataset: {source: synthetic, root: results/data/synthetic}
synthetic: {train_studies: 120, valid_studies: 40}
training:
  threads: 4
  defaults: {image_size: 320, batch_size: 32, epochs: 2, lr: 0.001, weights: none}
  models: {densenet121: null, resnet50: null}
evaluation: {bootstrap: 100}
YAML
timeout 100 "$SNAKEMAKE" --snakefile "$PWD/Snakefile" --directory "$work" --profile profiles/local --quiet rules -- \
    results/metrics/densenet121.csv results/metrics/resnet50.csv results/cam/densenet121/maps.npz || status=1
for model in densenet121 resnet50; do
    "$PYTHON" - "$work" "$model" <<'PY' || status=1
import json, sys
work, model = sys.argv[1:]
meta = json.load(open(f"{work}/results/models/{model}/meta.json"))
history = open(f"{work}/results/models/{model}/history.csv").read().splitlines()
speed = history[-1].split(",")[-1]
print(f"{model}: trained on {meta['device']}, {meta['epochs_run']} epochs, {speed} images/s in the last epoch")
assert meta["device"] != "cpu" and not meta["device"].startswith("cpu"), "trained on the CPU"
PY
done
rm -rf "$work"
finished

echo
[ "$status" -eq 0 ] && echo "gpu_check: every part ran" || echo "gpu_check: a part failed or ran out of time (above)"
exit "$status"

"""Class activation maps (CAM) for every model, rendered over the radiographs and scored against lesion boxes.

- :mod:`murad.cam.maps`: the maps (CAM, or Grad-CAM where the head is not global average pooling -> one linear
  layer), on the network's grid and resized to the original image; ``maps.npz``.
- :mod:`murad.cam.localization`: where a map points against a lesion box (pointing game, energy share) beside chance
  and a centre baseline; ``scores.csv`` per model and the localization table over models.
- :mod:`murad.cam.rendering`: the overlays over the radiographs and the per-model grid figure.
- :mod:`murad.cam.summary`: the localization table as Markdown and as a figure.

The workflow's ``cam_maps`` job (a GPU, the CNN) writes the maps and scores; ``cam_figures`` (no CNN) draws them.
"""

"""``worklist.html``: the ranked studies with their images and heat maps, one file beside ``overlays/`` that a
browser opens from disk (no server, no script, no file from elsewhere)."""

from __future__ import annotations

from html import escape

import pandas as pd

from ..names import shown

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #1a1a1a; }
h1 { font-size: 1.4em; margin-bottom: 0.2em; }
p.note { color: #555; margin: 0.2em 0; max-width: 70em; }
table { border-collapse: collapse; margin-top: 1em; width: 100%; }
th, td { border-bottom: 1px solid #ddd; padding: 0.45em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; position: sticky; top: 0; }
td.number { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
span.call { border-radius: 0.3em; padding: 0.1em 0.45em; font-weight: 600; white-space: nowrap; }
span.abnormal { background: #fbd5d5; color: #8a1c1c; }
span.normal { background: #d7f0dc; color: #1d5e2b; }
span.status { color: #8a5a00; font-weight: 600; }
div.images { display: flex; flex-wrap: wrap; gap: 0.6em; }
figure { margin: 0; }
figure img { height: 160px; width: auto; display: inline-block; border: 1px solid #ccc; }
figcaption { font-size: 0.8em; color: #444; max-width: 340px; overflow-wrap: anywhere; }
figure.unread figcaption { color: #8a1c1c; }
"""


def _number(value, digits: int = 3) -> str:
    return "" if pd.isna(value) else f"{float(value):.{digits}f}"


def _call(row) -> str:
    if pd.isna(row["abnormal"]):
        return ""
    word, style = ("abnormal", "abnormal") if int(row["abnormal"]) else ("normal", "normal")
    return f'<span class="call {style}">{word}</span>'


def _figures(images) -> str:
    """Each image's pictures and caption; names as :func:`shown` writes them, escaped for HTML once."""
    figures = []
    for image in images:
        name = shown(image.name)
        if image.reason:
            caption = escape(f"{name}: {shown(image.reason)}")
            figures.append(f'<figure class="unread"><figcaption>{caption}</figcaption></figure>')
            continue
        pictures = f'<img src="{escape(image.picture)}" alt="{escape(name)}">'
        if image.overlay:
            pictures += f'<img src="{escape(image.overlay)}" alt="{escape("heat map of " + name)}">'
        caption = name if image.probability is None else f"{name}: image probability {image.probability:.3f}"
        figures.append(f"<figure>{pictures}<figcaption>{escape(caption)}</figcaption></figure>")
    return f'<div class="images">{"".join(figures)}</div>'


def summary_of(reason: str | None) -> str:
    """A study's reason without the files' own (each unread file's figure gives its reason)."""
    return (reason or "").split("; ")[0]


def worklist_page(worklist: pd.DataFrame, images: dict[str, list], answered_by: str, source: str) -> str:
    """The page for ``worklist`` (ranked as :func:`murad.worklist.build.ranked` leaves it, its text as written to
    worklist.csv); ``images`` by the study's name there; ``source`` shown."""
    counts = worklist["status"].value_counts()
    summary = ", ".join(f"{counts[status]} {status}" for status in sorted(counts.index))
    rows = []
    for row in worklist.itertuples(index=False):
        record = row._asdict()
        status = "" if record["status"] == "ok" else f'<span class="status">{escape(record["status"])}</span> '
        rank = "" if pd.isna(record["rank"]) else str(record["rank"])
        rows.append(
            "<tr>"
            f'<td class="number">{rank}</td>'
            f'<td class="number">{_number(record["probability"])}</td>'
            f"<td>{_call(record)}</td>"
            f"<td>{escape(record['study'])}</td>"
            f"<td>{escape(record['body_part'] or '')}</td>"
            f'<td class="number">{record["n_read"]} / {record["n_images"]}</td>'
            f"<td>{status}{escape(summary_of(record['reason']))}{_figures(images[record['study']])}</td>"
            "</tr>"
        )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>murad worklist: {escape(source)}</title>
<style>{STYLE}</style>
</head>
<body>
<h1>Worklist: {len(worklist)} studies from {escape(source)}</h1>
<p class="note">Most likely abnormal first. {escape(answered_by)}. Studies: {escape(summary)}.</p>
<p class="note">Each image is shown as the model read it, beside its class activation map (red: the regions that
raised the abnormality score most). A research tool's ranking, not a diagnosis.</p>
<table>
<thead><tr><th>rank</th><th>probability</th><th>call</th><th>study</th><th>body part</th><th>images read</th>
<th>images and heat maps</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody>
</table>
</body>
</html>
"""

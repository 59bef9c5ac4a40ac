"""Reports: the ranking, the text table, and the Markdown and HTML leaderboards.

Ranking: by mean PSNR over the test set. When two neighbours differ by less than the noise of
that difference (the standard error of the mean of their per-image PSNR differences), the
difference is not evidence: they are marked ``≈`` (tied within noise) and ordered by mean SSIM.
Exact ties share a rank. Errors come last, without a rank.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Sequence
from pathlib import Path

import torch

from ..data import TestSet
from .rules import DEFAULT_MAX_WEIGHTS_MB, DEFAULT_TIME_LIMIT
from .scoring import PREVIEW_IMAGES, Result


def paired_gap(a: Result, b: Result) -> tuple[float, float | None]:
    """Mean PSNR difference ``a - b`` over the images and its standard error (paired)."""
    if not (a.psnr_per_image and b.psnr_per_image) or len(a.psnr_per_image) != len(
        b.psnr_per_image
    ):
        return a.psnr - b.psnr, None
    d = [p - q for p, q in zip(a.psnr_per_image, b.psnr_per_image, strict=True)]
    n = len(d)
    mean = sum(d) / n
    if n < 2:
        return mean, None
    return mean, math.sqrt(sum((v - mean) ** 2 for v in d) / (n - 1) / n)


def tied_within_noise(a: Result, b: Result) -> bool:
    """True when ``a`` and ``b`` differ in mean PSNR by less than the paired standard error."""
    gap, se = paired_gap(a, b)
    return se is not None and abs(gap) < se


def rank(results: Sequence[Result]) -> list[tuple[int | None, Result]]:
    """``(rank, result)`` pairs in leaderboard order (see the module docstring)."""
    ok = sorted((r for r in results if r.status == "ok"), key=lambda r: (-r.psnr, -r.ssim))
    # Runs of neighbours tied within noise are ordered by SSIM.
    ordered: list[Result] = []
    i = 0
    while i < len(ok):
        j = i + 1
        while j < len(ok) and tied_within_noise(ok[j - 1], ok[j]):
            j += 1
        ordered += sorted(ok[i:j], key=lambda r: (-r.ssim, -r.psnr))
        i = j
    ranked: list[tuple[int | None, Result]] = []
    for k, r in enumerate(ordered):
        prev = ordered[k - 1] if k else None
        same = prev is not None and (r.psnr, r.ssim) == (prev.psnr, prev.ssim)
        ranked.append((ranked[-1][0] if same else k + 1, r))
    ranked.extend((None, r) for r in results if r.status != "ok")
    return ranked


def noise_marks(ranked: list[tuple[int | None, Result]]) -> dict[str, str]:
    """``{name: "≈"}`` for each ranked submission tied within noise with a neighbour."""
    ok = [r for k, r in ranked if k is not None]
    marks = {}
    for a, b in zip(ok, ok[1:], strict=False):
        if tied_within_noise(a, b):
            marks[a.name] = marks[b.name] = "≈"
    return marks


def _cells(r: Result) -> tuple[str, str, str, str, str]:
    psnr = "-" if r.psnr is None else f"{r.psnr:.2f}"
    sem = "-" if r.psnr_sem is None else f"{r.psnr_sem:.2f}"
    ssim = "-" if r.ssim is None else f"{r.ssim:.4f}"
    secs = "-" if r.seconds is None else f"{r.seconds:.1f}"
    mb = "-" if r.weights_mb is None else f"{r.weights_mb:.2f}"
    return psnr, sem, ssim, secs, mb


def format_table(results: Sequence[Result]) -> str:
    """The ranked results as a plain-text table."""
    header = (
        "rank",
        "submission",
        "PSNR (dB)",
        "± SE",
        "SSIM",
        "time (s)",
        "weights (MB)",
        "status",
    )
    ranked = rank(results)
    marks = noise_marks(ranked)
    rows = [header]
    for k, r in ranked:
        shown = "-" if k is None else f"{k}{marks.get(r.name, '')}"
        rows.append((shown, r.name, *_cells(r), r.status))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    left = {0, 1, 7}
    lines = [
        "  ".join(
            c.ljust(w) if i in left else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]
    if marks:
        lines += ["", "≈: tied within noise with a neighbour (ordered by SSIM)"]
    errors = [f"  {r.name}: {r.error}" for r in results if r.status != "ok"]
    if errors:
        lines += ["", "errors:", *errors]
    return "\n".join(lines)


def _rows(results: Sequence[Result]) -> list[tuple[str, Result, tuple[str, ...]]]:
    """``(shown rank, result, table cells)`` in leaderboard order, ranks marked ≈ where tied
    within noise and ``–`` for errors (the Markdown and HTML leaderboards share them)."""
    ranked = rank(results)
    marks = noise_marks(ranked)
    return [("–" if k is None else f"{k}{marks.get(r.name, '')}", r, _cells(r)) for k, r in ranked]


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _limits_sentence(testset_path, testset, time_limit, max_weights_mb) -> str:
    return (
        f"Test set `{Path(testset_path).name}`: {len(testset.names)} images. Score: mean PSNR "
        "(dB) over the test set, ± its standard error; neighbours closer than the standard "
        "error of their paired difference are tied within noise (≈) and ordered by mean SSIM "
        f"(`course_utils.metrics`). Limits: {time_limit:g} s of CPU inference for the whole "
        f"test set, {max_weights_mb:g} MB of files, no pickled weights."
    )


def leaderboard_markdown(
    results: Sequence[Result],
    testset_path: str | Path,
    testset: TestSet,
    time_limit: float = DEFAULT_TIME_LIMIT,
    max_weights_mb: float = DEFAULT_MAX_WEIGHTS_MB,
) -> str:
    """A Markdown leaderboard: ranked table, errors last with their reason."""
    lines = [
        "# Challenge leaderboard",
        "",
        _limits_sentence(testset_path, testset, time_limit, max_weights_mb),
        "",
        "| Rank | Submission | PSNR (dB) | ± SE | SSIM | Time (s) | Weights (MB) | Status |",
        "|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    for shown, r, cells in _rows(results):
        status = "ok" if r.status == "ok" else f"error: {_md(r.error or '')}"
        lines.append(f"| {shown} | `{_md(r.name)}` | {' | '.join(cells)} | {status} |")
    return "\n".join(lines) + "\n"


def _png(image: torch.Tensor, size: int = 160) -> str:
    """A ``data:`` URI of a PNG thumbnail of an image ``(3, H, W)`` in [0, 1]."""
    from PIL import Image

    array = (image.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    thumb = Image.fromarray(array).resize((size, size), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    thumb.save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { padding: 0.35em 0.8em; border-bottom: 1px solid #ddd; text-align: right; }
td.name, th.name, td.status { text-align: left; }
tr.error td { color: #999; }
.strip { display: flex; gap: 1.5em; flex-wrap: wrap; margin: 0.5em 0 2em; }
figure { margin: 0; text-align: center; font-size: 0.85em; }
figure img { display: block; border: 1px solid #ccc; }
.triple { display: flex; gap: 2px; }
h2 { margin-top: 1.5em; border-bottom: 2px solid #eee; }
"""


def leaderboard_html(
    results: Sequence[Result],
    testset_path: str | Path,
    testset: TestSet,
    time_limit: float = DEFAULT_TIME_LIMIT,
    max_weights_mb: float = DEFAULT_MAX_WEIGHTS_MB,
) -> str:
    """One self-contained HTML page (images inlined): the ranked table, then for each scored
    submission a strip of the first test images (truth, measurement, reconstruction)."""
    e = html.escape
    ranked = rank(results)
    rows = []
    for shown, r, cells in _rows(results):
        status = "ok" if r.status == "ok" else f"error: {e(r.error or '')}"
        css = "" if r.status == "ok" else ' class="error"'
        rows.append(
            f"<tr{css}><td>{shown}</td><td class='name'>{e(r.name)}</td>"
            f"{''.join(f'<td>{c}</td>' for c in cells)}<td class='status'>{status}</td></tr>"
        )
    n_show = min(PREVIEW_IMAGES, len(testset.names))
    truths = [_png(testset.x[i]) for i in range(n_show)]
    measured = [_png(testset.y[i]) for i in range(n_show)]
    strips = []
    for k, r in ranked:
        if k is None or not r.previews:
            continue
        figures = []
        for i, preview in enumerate(r.previews[:n_show]):
            p, s = r.psnr_per_image[i], r.ssim_per_image[i]
            figures.append(
                "<figure><div class='triple'>"
                f"<img src='{truths[i]}' alt='truth'><img src='{measured[i]}' alt='measurement'>"
                f"<img src='{_png(preview)}' alt='reconstruction'></div>"
                f"<figcaption>{e(testset.names[i])}: truth, measurement, reconstruction — "
                f"{p:.2f} dB, SSIM {s:.3f}</figcaption></figure>"
            )
        strips.append(f"<h2>{k}. {e(r.name)}</h2><div class='strip'>{''.join(figures)}</div>")
    header = (
        "<tr><th>Rank</th><th class='name'>Submission</th><th>PSNR (dB)</th><th>± SE</th>"
        "<th>SSIM</th><th>Time (s)</th><th>Weights (MB)</th><th class='name'>Status</th></tr>"
    )
    intro = _limits_sentence(testset_path, testset, time_limit, max_weights_mb).replace("`", "")
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>Challenge leaderboard</title><style>{_STYLE}</style></head><body>"
        "<h1>Challenge leaderboard</h1>"
        f"<p>{e(intro)}</p>"
        f"<table>{header}{''.join(rows)}</table>{''.join(strips)}</body></html>\n"
    )

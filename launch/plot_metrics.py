"""Draw a run's learning curves from its metrics.jsonl into a PNG: episode return, episode length and the tracking
reward terms against env steps, and episode return against wall time.

    python launch/plot_metrics.py --run runs/go1-flat/<run>          # -> runs/go1-flat/<run>/metrics.png

Drawn with Pillow (already installed with imageio), so plotting needs no further dependency.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass

import tyro

PANEL_W, PANEL_H, MARGIN = 520, 300, 56
COLORS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14), (23, 190, 207)]


@dataclass
class PlotArgs:
    run: str
    """run folder written by launch/train.py (or a metrics.jsonl file)"""
    output: str | None = None
    """PNG to write (default: metrics.png beside metrics.jsonl)"""
    tracking_prefix: str = "reward/track_"
    """info["log"] entries drawn in the tracking panel (those whose name starts with this)"""


def read_metrics(path: str) -> list[dict]:
    """The records of a metrics.jsonl (a truncated last line, as a killed run leaves, is skipped)."""
    records = []
    with open(path) as file:
        for line in file:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records


def curves(records: list[dict], tracking_prefix: str) -> list[tuple[str, str, dict[str, list[tuple[float, float]]]]]:
    """[(panel title, x label, {series name: [(x, y), ...]})], points only where the record has the value."""

    def series(x_key: str, value_of) -> list[tuple[float, float]]:
        return [(r[x_key], value_of(r)) for r in records if value_of(r) is not None]

    tracking = sorted({name for r in records for name in r.get("log", {}) if name.startswith(tracking_prefix)})
    return [
        ("mean episode return", "env steps", {"return": series("env_steps", lambda r: r.get("mean_return"))}),
        ("mean episode length (steps)", "env steps", {"length": series("env_steps", lambda r: r.get("mean_length"))}),
        (
            "tracking reward per step",
            "env steps",
            {
                name.removeprefix("reward/"): series("env_steps", lambda r, n=name: r.get("log", {}).get(n))
                for name in tracking
            },
        ),
        ("mean episode return", "wall time (s)", {"return": series("wall_s", lambda r: r.get("mean_return"))}),
    ]


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    return [low + (high - low) * k / (count - 1) for k in range(count)]


def _label(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 1e4 else f"{value:.2e}"


def draw_panel(draw, left: int, top: int, title: str, x_label: str, lines: dict) -> None:
    x0, y0, x1, y1 = left + MARGIN, top + 28, left + PANEL_W - 16, top + PANEL_H - 40
    draw.rectangle([x0, y0, x1, y1], outline=(0, 0, 0))
    draw.text((x0, top + 8), title, fill=(0, 0, 0))
    draw.text(((x0 + x1) // 2 - 3 * len(x_label), y1 + 22), x_label, fill=(0, 0, 0))
    points = [p for line in lines.values() for p in line]
    if not points:
        draw.text((x0 + 10, (y0 + y1) // 2), "no data in these records", fill=(120, 120, 120))
        return
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x_low, x_high = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    y_low, y_high = min(ys), max(ys) if max(ys) > min(ys) else min(ys) + 1

    def to_px(x, y):
        return (
            x0 + (x - x_low) / (x_high - x_low) * (x1 - x0),
            y1 - (y - y_low) / (y_high - y_low) * (y1 - y0),
        )

    for value in _ticks(x_low, x_high):
        px = to_px(value, y_low)[0]
        draw.line([px, y1, px, y1 + 4], fill=(0, 0, 0))
        draw.text((px - 14, y1 + 6), _label(value), fill=(0, 0, 0))
    for value in _ticks(y_low, y_high):
        py = to_px(x_low, value)[1]
        draw.line([x0 - 4, py, x0, py], fill=(0, 0, 0))
        draw.text((left + 4, py - 6), _label(value), fill=(0, 0, 0))
    for index, (name, line) in enumerate(lines.items()):
        color = COLORS[index % len(COLORS)]
        pixels = [to_px(x, y) for x, y in line]
        if len(pixels) > 1:
            draw.line(pixels, fill=color, width=2)
        for px, py in pixels:
            draw.ellipse([px - 2, py - 2, px + 2, py + 2], fill=color)
        if len(lines) > 1:
            draw.text((x0 + 8, y0 + 6 + 14 * index), name, fill=color)


def plot(args: PlotArgs) -> str:
    from PIL import Image, ImageDraw

    path = args.run if args.run.endswith(".jsonl") else os.path.join(args.run, "metrics.jsonl")
    if not os.path.isfile(path):
        raise ValueError(
            f"--run: {path} does not exist; expected a run folder written by launch/train.py or a metrics.jsonl"
        )
    records = read_metrics(path)
    if not records:
        raise ValueError(
            f"--run: {path} holds no metric records (write_interval 0, or the run ended before its first report)"
        )
    panels = curves(records, args.tracking_prefix)
    image = Image.new("RGB", (2 * PANEL_W, 2 * PANEL_H), "white")
    draw = ImageDraw.Draw(image)
    for index, (title, x_label, lines) in enumerate(panels):
        draw_panel(draw, (index % 2) * PANEL_W, (index // 2) * PANEL_H, title, x_label, lines)
    output = args.output or os.path.join(os.path.dirname(path), "metrics.png")
    image.save(output)
    return output


def main() -> None:
    args = tyro.cli(PlotArgs, description=__doc__.split("\n")[0])
    try:
        print(plot(args))
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()

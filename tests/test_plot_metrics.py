"""launch/plot_metrics.py: a run's metrics.jsonl drawn into a PNG (return, length, tracking terms against env steps,
return against wall time); a truncated last line is skipped; a missing file is one line."""

import json

import numpy as np
import pytest
from PIL import Image

from launch.plot_metrics import COLORS, PANEL_H, PANEL_W, PlotArgs, plot


def test_a_run_is_drawn_with_its_tracking_terms(tmp_path):
    records = [
        {
            "timestep": 24 * k,
            "env_steps": 3072 * k,
            "wall_s": 30.0 * k,
            "mean_return": None if k == 1 else -2.0 + k,
            "mean_length": None if k == 1 else 80.0 + 20 * k,
            "log": {
                "reward/track_lin_vel_xy": 0.004 * k,
                "reward/track_ang_vel_z": 0.002 * k,
                "reward/lin_vel_z": -0.1,
            },
        }
        for k in range(1, 6)
    ]
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + '{"timestep": 14')
    output = plot(PlotArgs(run=str(tmp_path)))
    assert output == str(tmp_path / "metrics.png")
    image = np.asarray(Image.open(output).convert("RGB"))
    assert image.shape == (2 * PANEL_H, 2 * PANEL_W, 3)
    tracking_panel = image[PANEL_H:, :PANEL_W]
    for color in COLORS[:2]:  # both tracking terms drawn; lin_vel_z is not a tracking term
        assert (tracking_panel == color).all(-1).sum() > 50
    assert (tracking_panel == COLORS[2]).all(-1).sum() == 0


def test_a_missing_metrics_file_is_one_line(tmp_path):
    with pytest.raises(ValueError, match="metrics.jsonl does not exist"):
        plot(PlotArgs(run=str(tmp_path)))

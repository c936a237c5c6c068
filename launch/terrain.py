"""Render a rough task's generated terrain to a PNG: `python launch/terrain.py --task go1-rough --output terrain.png`.

Two views side by side: from straight above (difficulty levels up the picture, the terrain types' columns across)
and in perspective from a corner. Headless: MuJoCo's offscreen renderer with MUJOCO_GL=egl (the default here;
osmesa works too). `--seed`, `--num-levels` and `--num-columns` change the task's terrain configuration for the
picture, to see a grid before training on it.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass

os.environ.setdefault("MUJOCO_GL", "egl")

import tyro  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tasks  # noqa: E402
from tasks.terrain.render import render_terrain  # noqa: E402
from tasks.terrain.rough_task import terrain_config  # noqa: E402


@dataclass
class TerrainArgs:
    task: str = "go1-rough"
    """a task with a terrain (go1-rough, g1-rough)"""
    output: str = "terrain.png"
    """PNG file to write"""
    width: int = 960
    """pixels of each view"""
    height: int = 720
    seed: int | None = None
    """the terrain's seed (default: the task's)"""
    num_levels: int | None = None
    """rows of difficulty (default: the task's)"""
    num_columns: int | None = None
    """columns of terrain types (default: the task's)"""


def main(args: TerrainArgs) -> str:
    config = terrain_config(tasks.spec(args.task))  # one line for a task without a terrain
    changes = {name: getattr(args, name) for name in ("seed", "num_levels", "num_columns")}
    config = dataclasses.replace(config, **{name: value for name, value in changes.items() if value is not None})
    if args.width < 16 or args.height < 16:
        raise ValueError(f"--width/--height: {args.width}x{args.height} is not allowed; must be at least 16x16")
    render_terrain(config, args.output, args.width, args.height)
    return args.output


if __name__ == "__main__":
    arguments = tyro.cli(TerrainArgs)
    try:
        print(f"wrote {main(arguments)}")
    except ValueError as error:
        sys.exit(f"error: {error}")

"""Render a rough task's generated terrain to a PNG: `python launch/terrain.py --task go1-rough --output terrain.png`.

Two views side by side: from straight above (difficulty levels up the picture, the terrain types' columns across)
and in perspective from a corner. Headless: MuJoCo's offscreen renderer with MUJOCO_GL=egl (the default here;
osmesa works too). The task's `--env.terrain.*` flags (train.py's: `--env.terrain.num-levels 4`,
`--env.terrain.proportions flat 0.5 boxes 0.5`, `--env.terrain.seed 3`) change the grid, to see it before training
on it.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Annotated

os.environ.setdefault("MUJOCO_GL", "egl")

import tyro  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tasks  # noqa: E402
from launch import task_flags  # noqa: E402
from tasks.terrain.render import render_terrain  # noqa: E402


@dataclass
class TerrainArgs:
    task: str = "go1-rough"
    """a task with a terrain (go1-rough, g1-rough)"""
    output: str = "terrain.png"
    """PNG file to write"""
    width: int = 960
    """pixels of each view"""
    height: int = 720
    env: Annotated[tasks.TaskConfig | None, tyro.conf.AvoidSubcommands] = None
    """the task's settings, as train.py's --env.* flags (None: its defaults); the picture shows `--env.terrain.*`"""


def parse(argv: list[str]) -> TerrainArgs:
    """The command line as TerrainArgs, `env` defaulting to the chosen task's configuration; one line for a task
    without a terrain."""
    task = task_flags.chosen(argv, ("task",))["task"] or TerrainArgs.task
    config = tasks.config(task)
    if not hasattr(config, "terrain"):
        raise ValueError(f"--task: {task!r} has no terrain; choose a rough task (go1-rough, g1-rough)")
    default = TerrainArgs(task=task, env=config)
    parsed, unknown = task_flags.cli(TerrainArgs, default, argv, __doc__.split("\n")[0], return_unknown_args=True)
    if unknown:
        flag = unknown[0]
        raise ValueError(task_flags.unknown_env_flag(flag, default.env) or f"{flag}: unknown flag; see --help")
    if parsed.width < 16 or parsed.height < 16:
        raise ValueError(f"--width/--height: {parsed.width}x{parsed.height} is not allowed; must be at least 16x16")
    return parsed


def main(args: TerrainArgs) -> str:
    render_terrain(args.env.terrain, args.output, args.width, args.height)
    return args.output


if __name__ == "__main__":
    try:
        print(f"wrote {main(parse(sys.argv[1:]))}")
    except ValueError as error:
        sys.exit(f"error: {error}")

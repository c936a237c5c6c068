"""The lines play.py and sim2sim.py print for their episodes, from the result dict each also prints as JSON: the
same words for the same numbers, so the two reports compare line by line."""

from __future__ import annotations


def _number(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"  # sim2sim: an episode that blew up at once tracked nothing


def episode_lines(result: dict) -> list[str]:
    """One line per episode (return, length; for a velocity-command task its tracking error and whether it fell),
    then the summary line (means; falls/episodes, or the episodes that ended early for other tasks)."""
    legged, fell = "falls" in result, result.get("fell")  # fell: per episode (play.py's result only)
    lines = []
    for index, (episode_return, length) in enumerate(zip(result["returns"], result["lengths"])):
        line = f"episode {index}: return {episode_return:.2f}, length {length}"
        if legged:
            line += (
                f", tracking error {_number(result['tracking_error_lin'][index])} m/s, "
                f"{_number(result['tracking_error_yaw'][index])} rad/s"
            )
            if fell and fell[index]:
                line += ", fell"
        lines.append(line)
    summary = (
        f"{result['episodes']} episodes: mean return {result['mean_return']:.2f}, "
        f"mean length {result['mean_length']:.1f}"
    )
    if legged:
        summary += (
            f", mean tracking error {_number(result['mean_tracking_error_lin'])} m/s (linear), "
            f"{_number(result['mean_tracking_error_yaw'])} rad/s (yaw), {result['falls']}/{result['episodes']} falls"
        )
    else:
        summary += f", {result['terminated']} ended early (terminated)"
    return [*lines, summary]

"""play.py and sim2sim.py print their episodes with one function: the same words for the same numbers."""

from launch.episode_report import episode_lines

BASE = dict(returns=[1.0, 2.0], lengths=[3, 4], episodes=2, mean_return=1.5, mean_length=3.5, terminated=1)


def test_a_task_without_commands_reports_returns_lengths_and_early_ends():
    assert episode_lines(BASE) == [
        "episode 0: return 1.00, length 3",
        "episode 1: return 2.00, length 4",
        "2 episodes: mean return 1.50, mean length 3.5, 1 ended early (terminated)",
    ]


def test_a_velocity_task_reports_tracking_error_and_falls_and_n_a_where_nothing_was_tracked():
    legged = dict(
        BASE,
        falls=1,
        fell=[True, False],
        tracking_error_lin=[0.1, None],
        tracking_error_yaw=[0.2, None],
        mean_tracking_error_lin=0.1,
        mean_tracking_error_yaw=0.2,
    )
    assert episode_lines(legged) == [
        "episode 0: return 1.00, length 3, tracking error 0.100 m/s, 0.200 rad/s, fell",
        "episode 1: return 2.00, length 4, tracking error n/a m/s, n/a rad/s",
        "2 episodes: mean return 1.50, mean length 3.5, mean tracking error 0.100 m/s (linear), 0.200 rad/s (yaw), "
        "1/2 falls",
    ]

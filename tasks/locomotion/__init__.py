"""Velocity-command locomotion for legged robots: the terms, commands and events a walking task is made of,
written once for torch and jax.numpy (`xp`). A robot's task (go1_flat, ...) reads as tables of these."""

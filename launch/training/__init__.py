"""The parts of launch/train.py, one job each: resume (resume.py), this process's device and rank (ranks.py), the
run folder's files and metric loggers (run_files.py), and the command's result (result.py)."""

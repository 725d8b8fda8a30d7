"""The training engine: the trainer (exact resume, atomic checkpoints, DDP), checkpoints, the range test.

It is handed a task and a config and never composes them (rot90.run does); nothing here imports a task.
"""

"""Training: the objective (label-smoothed loss), the loop, the optimizer and schedules, several
processes (DDP), dvclive logging, and the trainer the train stage calls."""

"""Training: the loop, the optimizer and schedules, several processes (DDP), dvclive logging, and the train stage."""

"""Running a pipeline: the driver that moves a run from step to step, the stage
executors, the reaper, and the run's progress events."""

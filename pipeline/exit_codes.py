"""Exit codes of local_runner.py, for scripts and schedulers."""
OK = 0  # the run completed: pushed, or evaluated and not blessed (the summary says why).
FAILED = 1  # a component failed.
BAD_INPUT = 2  # --data-root could not be read as the declared columns, or the data gate found anomalies.
BUSY = 3  # another run holds the same --output-root.

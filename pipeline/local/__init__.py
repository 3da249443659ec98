"""Running the DAG on this machine: the concurrent DAG runner (concurrent_runner.py) and its second executor
process (executor_worker.py), process settings (process_tuning.py), one run per output root (run_lock.py) and the
exit codes (exit_codes.py)."""

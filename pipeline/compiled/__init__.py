"""Compiled pipelines: the compile and deploy flags that shape them (flags.py), and compiled files run on this machine
(kubeflow_runner.py run-local): reading a KFP or Vertex spec (spec.py), what the KFP v2 launcher does per task
(launcher.py), the image as the Dockerfile installs it (image.py), and the command with its summary (run_local.py)."""

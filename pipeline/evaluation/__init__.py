"""How a trained model is judged: the TFMA configuration with its slices and blessing thresholds (config.py), the
metrics and their names (classifier_metrics.py, metric_names.py) and the baseline it is compared with
(baseline.py). A new metric goes into classifier_metrics.py and its name into metric_names.py."""

"""The names of the Evaluator's metrics, for everything that reads them (reports, notebooks, lineage, blessing).

Plain names only: reporting imports this without loading TFMA or TensorFlow. classifier_metrics.py computes
exactly ALL.
"""
EXAMPLE_COUNT = 'example_count'
AUC = 'auc'
MEAN_LABEL = 'mean_label'
ALL = (EXAMPLE_COUNT, AUC, 'binary_accuracy', 'precision', 'recall', 'calibration', MEAN_LABEL, 'mean_prediction')
RATES = (AUC, 'binary_accuracy', 'precision', 'recall')  # shares in [0, 1], charted on one axis.
HEADLINE = RATES + ('calibration', EXAMPLE_COUNT)  # the summary's line and the lineage's runs.
BRIEF = (AUC, 'binary_accuracy')  # one run in a line (lineage runs).
GATED = AUC  # the metric the blessing thresholds apply to (pipeline/evaluation/config.py).

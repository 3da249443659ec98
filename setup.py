"""Installs the pipeline code (pipeline/ with its sub-packages, models/, preprocessing/, schema/) into an environment
that has TFX.

The pinned environment itself comes from requirements.lock (make venv); the container image starts from the
official TFX image and installs this package on top.
"""
import setuptools

setuptools.setup(
    name='taxi-big-tipper-pipeline',
    version='0.1.0',
    description='Reference TFX pipeline: Chicago taxi "big tipper" from CSV to a validated, pushed model.',
    python_requires='>=3.9,<3.11',
    packages=setuptools.find_packages(include=['pipeline', 'pipeline.*', 'models', 'preprocessing', 'schema']),
    package_data={'schema': ['schema.pbtxt']},
    py_modules=['local_runner', 'kubeflow_runner'],
)

import os

# mlflow decides at first import whether to report usage over the network; these
# tests import it before pytest marks the process as a test run.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

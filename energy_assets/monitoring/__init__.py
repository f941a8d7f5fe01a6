"""Monitoring of the serving model, shared by the ``forecast_monitoring`` asset, the drift sensor
and the replay (``simulate``), so that each rule and each reading of the data lives once.

The statistics are pure (``ml/monitoring.py``); this package is what surrounds them: which raw
days are read and how they are cleaned (``raw``), the stored realised rows and reference
(``store``), the CloudWatch metrics and alarms (``cloudwatch``), one monitoring pass (``run``)
and the drift decision read from what that pass recorded (``drift``). No Dagster API is used
here: the asset and the sensor are the Dagster side.
"""

"""Evaluation: metrics with confidence intervals (``metrics``), resumable run outputs (``records``), tables (``report``).

Nothing is imported here so that ``import iclkit.evaluate.records`` stays free of scikit-learn and rich.
"""

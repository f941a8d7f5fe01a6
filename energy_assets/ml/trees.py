"""Fitted histogram gradient-boosting trees as flat numpy arrays, evaluated all at once.

scikit-learn's ``predict`` walks the trees one by one through OpenMP; for the 14 rows of one
forecast that costs milliseconds (and far more when other processes hold the cores). Here every
tree advances one level per numpy step, so a forecast is a dozen array operations.
"""

from __future__ import annotations

import numpy as np


class CompiledTrees:
    """The sum of a fitted ``HistGradientBoostingRegressor``'s trees (numeric features only)."""

    def __init__(self, model):
        nodes = [predictor.nodes for (predictor,) in model._predictors]
        if any(n["is_categorical"].any() for n in nodes):
            raise ValueError("categorical splits are not supported")
        offsets = np.cumsum([0] + [len(n) for n in nodes[:-1]])
        flat = np.concatenate(nodes)
        shift = np.repeat(offsets, [len(n) for n in nodes])
        self.roots_ = offsets.astype(np.int64)[:, None]
        self.feature_ = flat["feature_idx"].astype(np.int64)
        self.threshold_ = flat["num_threshold"].astype(float)
        self.missing_left_ = flat["missing_go_to_left"].astype(bool)
        self.left_ = (flat["left"].astype(np.int64) + shift).astype(np.int64)
        self.right_ = (flat["right"].astype(np.int64) + shift).astype(np.int64)
        self.leaf_ = flat["is_leaf"].astype(bool)
        self.value_ = flat["value"].astype(float)
        self.depth_ = int(flat["depth"].max()) if len(flat) else 0
        self.baseline_ = float(np.ravel(model._baseline_prediction)[0])
        # a leaf points to itself, so rows that reached a leaf stay there
        leaves = np.flatnonzero(self.leaf_)
        self.left_[leaves] = leaves
        self.right_[leaves] = leaves

    def predict(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        rows = np.arange(len(x))[None, :]
        node = np.broadcast_to(self.roots_, (len(self.roots_), len(x)))
        for _ in range(self.depth_):
            value = x[rows, self.feature_[node]]
            left = np.where(
                np.isnan(value), self.missing_left_[node], value <= self.threshold_[node]
            )
            node = np.where(left, self.left_[node], self.right_[node])
        return self.baseline_ + self.value_[node].sum(axis=0)

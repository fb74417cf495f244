"""The blocked fit is scikit-learn's logistic regression, only faster on [sparse | dense] columns."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse import hstack
from scipy.sparse import random as sparse_random
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from bot.nlp.blocked_logistic import fit_blocked_logistic


def _problem(classes: int, rows: int = 300, seed: int = 0):
    generator = np.random.default_rng(seed)
    labels = [f"intent_{i}" for i in generator.integers(0, classes, rows)]
    sparse = sparse_random(rows, 400, density=0.03, format="lil", random_state=seed)
    dense = generator.normal(size=(rows, 16))
    # Make the labels learnable from both blocks.
    for row, label in enumerate(labels):
        index = int(label.split("_")[1])
        sparse[row, index] = 1.0
        dense[row, index % 16] += 2.0
    return sparse.tocsr(), dense, labels


@pytest.mark.parametrize("classes", [3, 5])
def test_fits_what_scikit_learn_fits_on_the_stacked_columns(classes):
    sparse, dense, labels = _problem(classes)
    stacked = hstack([sparse, dense]).tocsr()
    reference = LogisticRegression(C=20.0, max_iter=5000).fit(stacked, labels)

    blocked = fit_blocked_logistic(sparse, dense, labels, C=20.0)

    assert list(blocked.classes_) == list(reference.classes_)
    assert blocked.coef_.shape == reference.coef_.shape
    assert np.abs(blocked.predict_proba(stacked) - reference.predict_proba(stacked)).max() < 1e-3
    assert np.allclose(blocked.coef_, reference.coef_, atol=1e-2)
    assert blocked.n_iter_[0] > 1


def test_new_rows_are_predicted_like_scikit_learns_model():
    sparse, dense, labels = _problem(4, seed=1)
    unseen_sparse, unseen_dense, _ = _problem(4, rows=50, seed=2)
    unseen = hstack([unseen_sparse, unseen_dense]).tocsr()
    reference = LogisticRegression(C=1.0, max_iter=5000).fit(hstack([sparse, dense]).tocsr(), labels)

    blocked = fit_blocked_logistic(sparse, dense, labels, C=1.0)

    assert (blocked.predict(unseen) == reference.predict(unseen)).all()


def test_two_classes_are_scikit_learns_binary_model():
    sparse, dense, labels = _problem(2)
    blocked = fit_blocked_logistic(sparse, dense, labels, C=20.0)
    assert blocked.coef_.shape == (1, sparse.shape[1] + dense.shape[1])


def test_without_dense_columns_it_is_the_sparse_model():
    sparse, _, labels = _problem(3)
    reference = LogisticRegression(C=20.0, max_iter=5000).fit(sparse, labels)
    blocked = fit_blocked_logistic(sparse, np.zeros((sparse.shape[0], 0)), labels, C=20.0)
    assert np.abs(blocked.predict_proba(sparse) - reference.predict_proba(sparse)).max() < 1e-3


def test_columns_of_too_few_examples_get_no_weight_and_the_rest_are_fitted_without_them():
    sparse, dense, labels = _problem(3)
    counts = (sparse != 0).sum(axis=0).A1
    rare = counts < 2
    assert rare.any() and not rare.all()
    kept = hstack([sparse[:, ~rare], dense]).tocsr()
    reference = LogisticRegression(C=20.0, max_iter=5000).fit(kept, labels)

    blocked = fit_blocked_logistic(sparse, dense, labels, C=20.0, min_examples=2)

    assert blocked.coef_.shape[1] == sparse.shape[1] + dense.shape[1]
    assert (blocked.coef_[:, :sparse.shape[1]][:, rare] == 0).all()
    stacked = hstack([sparse, dense]).tocsr()
    assert np.abs(blocked.predict_proba(stacked) - reference.predict_proba(kept)).max() < 1e-3


def test_an_unconverged_fit_says_so_like_scikit_learn():
    sparse, dense, labels = _problem(3)
    with pytest.warns(ConvergenceWarning):
        fit_blocked_logistic(sparse, dense, labels, C=20.0, max_iter=2)

"""Multinomial logistic regression fitted on a sparse block and a dense block side by side.

Why: the intent classifier's features are TF-IDF n-grams (sparse) next to a 384-wide sentence
embedding (dense). Stacked into one sparse matrix for scikit-learn, the embedding's columns were
70% of the stored values, and scikit-learn's lbfgs then spent about 85 s of every training in
scipy's sparse kernels multiplying them. Here the embedding is multiplied as a dense array
(BLAS) and the n-grams as a sparse one, for the objective scikit-learn's
`LogisticRegression(C=C)` minimises (multinomial cross-entropy summed over the examples plus
||coef||^2 / 2C, intercept unpenalised) and with the same optimiser (scipy's L-BFGS-B, same
tolerance and limits). The result is a fitted `LogisticRegression`, so prediction and
persistence are scikit-learn's; tests/bot/nlp/test_blocked_logistic.py checks it against
scikit-learn's own fit.
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from scipy.optimize import minimize
from scipy.sparse import csr_matrix, hstack
from scipy.special import logsumexp
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

# scikit-learn's defaults for LogisticRegression(solver="lbfgs").
TOLERANCE = 1e-4


def fit_blocked_logistic(sparse: csr_matrix, dense: np.ndarray, labels: Sequence[str], C: float,
                         max_iter: int = 5000, min_examples: int = 1) -> LogisticRegression:
    """A multinomial `LogisticRegression` on the columns [sparse | dense], as scikit-learn's
    `LogisticRegression(C=C, max_iter=max_iter).fit(hstack([sparse, dense]), labels)` would fit it.

    A sparse column non-zero in fewer than `min_examples` rows is left out of the fit (weight 0):
    the optimiser's own work grows with the number of weights, and half the n-grams occur in one
    training example only."""
    classes, target = np.unique(np.asarray(labels), return_inverse=True)
    if len(classes) < 3:
        # scikit-learn fits two classes as one binary model: small problems, its own fit (on
        # every column).
        return LogisticRegression(C=C, max_iter=max_iter).fit(
            hstack([sparse, csr_matrix(dense)]).tocsr(), labels)
    dense = np.ascontiguousarray(dense, dtype=np.float64)
    all_sparse_columns = sparse.shape[1]
    sparse = csr_matrix(sparse, dtype=np.float64)
    kept = np.flatnonzero(sparse.getnnz(axis=0) >= min_examples)
    sparse = sparse[:, kept]
    rows, n_sparse, n_features = len(target), sparse.shape[1], sparse.shape[1] + dense.shape[1]
    sparse_t = sparse.T.tocsr()
    one_hot = np.zeros((rows, len(classes)))
    one_hot[np.arange(rows), target] = 1.0

    def loss_and_gradient(flat: np.ndarray) -> tuple[float, np.ndarray]:
        weights = flat.reshape(len(classes), n_features + 1)
        coef, intercept = weights[:, :n_features], weights[:, n_features]
        scores = sparse @ coef[:, :n_sparse].T + dense @ coef[:, n_sparse:].T + intercept
        log_norm = logsumexp(scores, axis=1)
        loss = float((log_norm - scores[np.arange(rows), target]).sum()
                     + 0.5 / C * np.einsum("ij,ij->", coef, coef))
        residual = np.exp(scores - log_norm[:, None]) - one_hot
        gradient = np.empty_like(weights)
        gradient[:, :n_sparse] = (sparse_t @ residual).T
        gradient[:, n_sparse:n_features] = residual.T @ dense
        gradient[:, :n_features] += coef / C
        gradient[:, n_features] = residual.sum(axis=0)
        return loss, gradient.ravel()

    result = minimize(loss_and_gradient, np.zeros(len(classes) * (n_features + 1)), jac=True,
                      method="L-BFGS-B",
                      options={"gtol": TOLERANCE, "maxiter": max_iter, "iprint": -1})
    if not result.success:
        # What scikit-learn does too: the model is usable, and the log says it is not converged.
        warnings.warn(f"lbfgs did not converge: {result.message}", ConvergenceWarning, stacklevel=2)
    weights = result.x.reshape(len(classes), n_features + 1)
    model = LogisticRegression(C=C, max_iter=max_iter)
    model.classes_ = classes
    model.coef_ = np.zeros((len(classes), all_sparse_columns + dense.shape[1]))
    model.coef_[:, kept] = weights[:, :n_sparse]
    model.coef_[:, all_sparse_columns:] = weights[:, n_sparse:n_features]
    model.intercept_ = weights[:, n_features].copy()
    model.n_iter_ = np.array([result.nit], dtype=np.int32)
    model.n_features_in_ = model.coef_.shape[1]
    return model

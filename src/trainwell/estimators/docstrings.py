"""The parameter documentation both estimators share (numpydoc), filled in per estimator.

Written once so the two class docstrings cannot drift apart; :func:`parameters_doc`
puts in what differs (the losses and the estimator's own parameters).
"""

from __future__ import annotations

_COMMON_DOC = """
    Parameters
    ----------
    kind : {"auto", "mlp", "cnn"}, default="auto"
        ``"auto"`` builds a CNN for image- or signal-shaped arrays (3-D or 4-D X), an MLP otherwise.
    hidden : "auto" or tuple of int, default="auto"
        Sizes of the dense hidden layers. ``"auto"``: (256, 128), or (128, 64) below 1,000 training rows;
        (128,) after the conv blocks of a CNN.
    conv : "auto" or sequence of (channels, kernel, pool), default="auto"
        Conv blocks of a CNN; ``"auto"``: (32, 3, 2), (64, 3, 2), (128, 3, 0), then global average pooling.
    activation : str or (str, float), default="relu"
        ``"relu"``, ``"tanh"``, ``"sigmoid"`` (not recommended in hidden layers), ``"leaky_relu"``
        (slope 0.01, or ``("leaky_relu", slope)``) or ``"prelu"`` (learned slope).
    init : str or (str, float), default="auto"
        ``"he"`` (std sqrt(2/fan_in), the default for the ReLU family), ``"xavier"`` (std sqrt(1/fan_in),
        the default for tanh/sigmoid), ``"zeros"`` or ``("constant", v)`` (warned about: symmetric units
        cannot learn) or ``("normal", std)``.
    batchnorm : bool, default=True
        Batch norm after each linear/conv layer, before the non-linearity.
    dropout : float or "auto", default="auto"
        Probability of dropping a hidden unit during training. ``"auto"``: 0.2 for an MLP with fewer than
        1,000 training rows or fewer than 100 input features, else 0 (and 0 in a CNN).
    loss : str, default="auto"
        {loss_doc}
    optimizer : str, default="adam"
        ``"sgd"``, ``"momentum"``, ``"nesterov"``, ``"adagrad"``, ``"adadelta"``, ``"rmsprop"`` or ``"adam"``.
    lr : float, default=1e-3
        Learning rate.
    momentum : float, default=0.9
        Momentum of ``"momentum"`` and ``"nesterov"``.
    l2 : float, default=1e-4
        L2 strength: penalty ``l2 / 2 * sum(w ** 2)`` over weights (not biases or batch-norm parameters).
    l1 : float, default=0.0
        L1 strength: penalty ``l1 * sum(|w|)`` over weights.
    lr_schedule : str or dict, default="auto"
        ``"none"``, ``"step"``, ``"exponential"``, ``"cosine"``, ``"onecycle"`` or ``"plateau"`` (halve the
        rate after 5 epochs without validation improvement); a dict
        ``{{"name": "step", "step_size": 10, "gamma": 0.5}}`` sets options. ``"auto"``: ``"plateau"`` for a
        CNN, ``"none"`` for an MLP.
    batch_size : int or "auto", default="auto"
        ``"auto"``: 128, smaller for small data sets (about 40 steps per epoch, at least 16 samples).
    max_epochs : int, default=200
    early_stopping : bool, default=True
        Hold out ``validation_fraction`` of the rows, stop when the validation loss has not improved
        for ``patience`` epochs and restore the best weights.
    patience : int, default=20
    validation_fraction : float or "auto", default="auto"
        Share of the rows held out for early stopping. ``"auto"``: 0.2 below 1,000 rows, else 0.1.
    {extra_doc}scaling : {"auto", "feature", "global", "robust", "none"}, default="auto"
        Input standardisation with training statistics: per feature, or one mean and deviation for all
        (per channel for images). ``"auto"``: global for images and pixel-like tables, per feature otherwise.
        ``"robust"`` (tables): median and interquartile range per numeric column, as scikit-learn's
        ``RobustScaler``, then smooth clipping ``x / sqrt(1 + (x/3)**2)`` (RealMLP's); measured in
        ``bench/tabular.md``, where it did not beat ``"feature"``, so it is not the default.
    numeric_encoding : {"auto", "piecewise", "none"}, default="auto"
        ``"piecewise"``: each numeric column of a table with at least 10 distinct values also enters the
        network as its piecewise-linear encoding (Gorishniy et al., NeurIPS 2022): a small decision tree
        on that column and the target places up to 8 bins, and the value becomes one number per bin
        (1 below the value, 0 above it, the fraction inside its own bin), appended after the column
        itself. The network then sees the thresholds a tree would split on. ``"auto"``: ``"piecewise"``
        for tables of at least 1,000 training rows and at most 64 numeric columns, ``"none"`` otherwise
        (measured: Adult 85.4 % to 85.8 %, RAND HIE R² 0.11 to 0.20, breast cancer 97.7 % to 96.2 %). Images, signals, pixel-like tables and sparse input are never
        encoded. The bin edges are fitted on the training rows only and saved with the model.
    missing : {"auto", "error"}, default="auto"
        Gaps (NaN) in the numeric columns of a table. ``"auto"``: each is filled with its column's median
        over the training rows, and every column with gaps in training gets a 0/1 missing-indicator input
        (as ``SimpleImputer(strategy="median", add_indicator=True)``); a column with gaps only at predict
        time is filled with its median, with no indicator. Saved with the model. Missing values in text
        or category columns are a category of their own either way. ``"error"``: NaN is refused. NaN in
        images, signals, a CNN's input or a memory-mapped array, and infinite values anywhere, are
        always refused.
    augment : str or None, default="auto"
        Augmentation of training batches, done on the device: ``"auto"`` shifts images (X shaped
        (n, H, W) or (n, C, H, W), for a CNN or an MLP) at random by up to about 7 % of their size
        (2 px for 28×28) and leaves other data alone; ``"shift"``, ``"shift=N"`` (N pixels),
        ``"flip"`` (horizontal, opt-in only: wrong for digits and text), ``"shift+flip"``,
        ``"none"``.
    device : str, default="auto"
        ``"auto"``: CUDA when present, else CPU.
    random_state : int, RandomState or None, default=None
        Seed for the initial weights, the splits, shuffling and dropout; fixed seeds make CPU runs repeatable.
    verbose : int, default=0
        1 prints one line per epoch (in Jupyter: one output redrawn in place, with a progress
        bar, the latest epochs and an ETA).
    grad_clip : float or None, default=None
        Clip the global gradient norm to this value.
    bf16 : bool, default=False
        Matrix products (and convolutions) in bfloat16, float32 master weights, optimizer, batch
        norm and loss, on CUDA and on CPUs with native bf16 instructions (AVX512-BF16 or AMX);
        elsewhere ignored with a warning. On the CPU an MLP keeps the hand-derived fast step with
        bf16 products; other networks, and every network on CUDA, train under bf16 autocast.
    cuda_graphs : bool, default=True
        On CUDA, replay full, unwatched training steps from a captured CUDA graph (one
        launch per batch instead of ~50); ``False`` launches every kernel from Python.
    callbacks : list of trainwell.train.Callback or None
        Observers of the training loop.
    checkpoint_dir : str or None, default=None
        Write a crash-safe checkpoint there after every epoch; ``fit(X, y, resume=True)`` continues from it.
    pretrained : str, fitted estimator or None, default=None
        Transfer learning: start from this trainwell model (a model or run folder, or a fitted estimator),
        keep its body and input scaling, drop its last layer and put a new head for the new outputs.
    freeze : {"features", None}, default="features"
        With ``pretrained``: train the new head with the body frozen (``None`` trains everything at once).
    fine_tune : float or None, default=0.1
        With ``pretrained`` and ``freeze="features"``: after the head has trained, unfreeze the body and
        train everything at ``lr * fine_tune``; ``None`` trains the head only.
    diagnostics : bool, default=True
        Watch a few steps per epoch (per-layer activations, gradients, dead ReLUs, saturation,
        update/weight ratios) and turn what was seen into ``findings_``: ranked advice in plain words.
    report : str or path-like, optional
        After ``fit``, write a run folder there (model, history, diagnostics, config) with a
        self-contained ``report.html``; its path is ``report_path_``. For the test-split
        confusion matrix, call ``trainwell.report.save_run(est, folder, X_test, y_test)`` instead.
    tensorboard : bool or str, default=False
        Write TensorBoard events (scalars and histograms, once per epoch): ``True`` into
        TensorBoard's default ``runs/<date>_<host>``, a path into that folder. Needs the
        ``tensorboard`` package.
    mlflow : bool or str, default=False
        Record the fit as an MLflow run: the parameters (``"auto"`` resolved), per-epoch metrics,
        the findings (``findings.json``) and the ``report`` folder. ``True`` tracks to
        ``MLFLOW_TRACKING_URI``, else MLflow's default (``sqlite:///mlflow.db`` in the working
        folder); a string is the tracking URI. The run id is ``mlflow_run_id_``. Needs the
        ``mlflow`` extra (``pip install trainwell[mlflow]``); MLflow is imported only then.
    sync_batchnorm : bool, default=False
        Under ``torchrun`` on CUDA: batch norm over the global batch (``nn.SyncBatchNorm``)
        instead of each process's slice of it. No effect in a single process; not available
        on CPU. Under ``torchrun``, ``batch_size`` is the global batch, split evenly between
        the processes (see :mod:`trainwell.train.distributed`).
    threads : int or "auto", default="auto"
        Intra-op threads torch uses while this estimator trains. ``"auto"``: one thread for an
        MLP whose step is small (fewer than 4 M multiply-adds per batch: a second thread does
        not pay there, and spins against other processes on a busy machine; on a busy machine
        ``threads=1`` pays for any MLP), torch's default
        otherwise (see :mod:`trainwell.train.threads`).
"""


def parameters_doc(loss_doc: str, extra_doc: str) -> str:
    """The shared ``Parameters`` section with the estimator's losses and extra parameters put in."""
    return _COMMON_DOC.replace("{loss_doc}", loss_doc).replace("{extra_doc}", extra_doc).replace("{{", "{").replace("}}", "}")

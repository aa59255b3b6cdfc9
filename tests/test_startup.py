"""The command line imports what a command needs when it needs it (timings: bench/startup.py)."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "sklearn", "pandas", "numpy", "scipy", "matplotlib", "optuna")


def _loaded_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", f"{code}\nimport sys; print(' '.join(sys.modules))"],
                         check=True, capture_output=True, text=True).stdout.split()
    return {name for name in HEAVY if name in out}


def test_help_loads_no_heavy_library():
    assert _loaded_after("from trainwell.cli import build_parser; build_parser().format_help()") == set()


def test_the_package_and_its_errors_load_no_heavy_library():
    assert _loaded_after("import trainwell, trainwell.exceptions") == set()


def test_not_fitted_is_scikit_learns_not_fitted_error():
    from sklearn.exceptions import NotFittedError

    from trainwell.exceptions import NotFitted, TrainwellError

    assert issubclass(NotFitted, NotFittedError) and issubclass(NotFitted, TrainwellError)


def test_a_first_fit_does_not_import_torch_dynamo():
    # torch.optim wraps Optimizer.add_param_group in torch._disable_dynamo, whose first call imports
    # torch._dynamo (about 1 s): the whole of a fresh process's first-fit cost (bench/startup.md).
    # An MLP with the optimizers of the fused flat update never calls torch's step; the others (and
    # CNNs) do, and torch.optim's step imports torch._dynamo itself.
    code = ("from sklearn.datasets import load_iris\nfrom trainwell import NeuralNetClassifier, NeuralNetRegressor\n"
            "X, y = load_iris(return_X_y=True)\n"
            "for opt in ('adam', 'sgd', 'momentum', 'nesterov'):\n"
            "    NeuralNetClassifier(optimizer=opt, max_epochs=2, random_state=0).fit(X, y)\n"
            "NeuralNetRegressor(max_epochs=2, random_state=0).fit(X, y.astype(float))\n"
            "import sys; print('torch._dynamo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.split()
    assert out[-1] == "False"


def test_the_optimizers_are_torchs_own():
    import torch

    from trainwell.train.optim import make_optimizer

    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    for name, cls in (("adam", torch.optim.Adam), ("momentum", torch.optim.SGD), ("rmsprop", torch.optim.RMSprop)):
        ours = make_optimizer(name, net, 0.01, 0.9, 1e-3)
        assert isinstance(ours, cls) and type(ours).__name__ == cls.__name__
        assert [g["weight_decay"] for g in ours.param_groups] == [1e-3, 0.0]  # L2 on the weights only
        # the same update as torch's class over the same groups
        clone = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
        clone.load_state_dict(net.state_dict())
        theirs = cls([{"params": [clone[0].weight, clone[2].weight], "weight_decay": 1e-3},
                      {"params": [clone[0].bias, clone[2].bias], "weight_decay": 0.0}], lr=0.01,
                     **({"momentum": 0.9} if name == "momentum" else {}))
        x = torch.randn(8, 3)
        for model, opt in ((net, ours), (clone, theirs)):
            opt.zero_grad()
            model(x).square().sum().backward()
            opt.step()
        for a, b in zip(net.parameters(), clone.parameters(), strict=True):
            torch.testing.assert_close(a, b)

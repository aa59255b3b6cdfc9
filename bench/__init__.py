"""Side-by-side speed benchmarks of trainwell against the tools people use today.

Run everything that runs on this machine and write ``bench/results.md``::

    python -m bench                 # all cores torch sees; about 3-4 minutes on 2 cores
    python -m bench --threads 1     # every contender single-threaded (a busy machine)
    python -m bench --quick         # small sizes, a smoke test of the harness (seconds)
    python -m bench --gpu-only      # on a CUDA machine: the GPU workloads, into bench/results-gpu.md
    python -m bench --loaded        # only the thread policy, under a load it starts and stops (bench/results-loaded.md)
    python -m bench --targets-only  # only issue 22's targets section, in seconds (stdout or --out)
    python -m bench.gpu_profile     # on a CUDA machine: where a replayed MLP step's GPU time goes
    bash bench/gpu_check.sh         # on a lent GPU: CUDA tests, the suite on the GPU, bench, profile
    python bench/mapped.py          # a memory-mapped .npy against the same data in memory (bench/mapped.md)
    python bench/cnn_layout.py      # the default CNN on the CPU, channels-last vs contiguous (bench/cnn_layout.md)
    python bench/bf16_accuracy.py   # bf16 autocast on the CPU against float32: accuracy (bench/bf16_accuracy.md)
    python bench/report_speed.py    # CPU time of save_run (run folder + HTML report) for a 50-epoch run; prints it
    python bench/startup.py         # wall time of `trainwell --help` and of predicting 100 rows, fresh processes (bench/startup.md)
    python -m bench.threads         # seconds per step at 1 and all intra-op threads, quiet or --load (bench/threads.md)
    python bench/sparse_text.py     # TF-IDF of stdlib docstrings (CSR): trainwell next to LogisticRegression (bench/sparse_text.md)
    python bench/scenarios.py       # the diagnosis scenario bank, calibration vs validation data sets (bench/scenarios.md)
    python -m bench.tabular         # trainwell's defaults vs RealMLP, HistGB, sklearn MLP, linear on 14 real tables (bench/tabular.md)

Where CUDA is present, ``python -m bench`` also runs the GPU part (the MLP against the
eager, hand-graphed, DataLoader and Lightning loops; an airbench-like CNN against eager and
``torch.compile``); elsewhere it says why it skipped it.

Every contender trains the same 784-256-128-10 MLP on the same synthetic MNIST-sized
data in one process, so the ratios are comparable even where absolute times are not.
Peer code (scikit-learn, skorch, a DataLoader loop, a plain eager loop, Lightning) lives
only here, never in the package.
"""

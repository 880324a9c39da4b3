import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"  # the project's shared data sets, beside the checkout

os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
# A shell's background job (`cmd &`, nohup) starts with SIGINT ignored, and every process it
# starts inherits that: the Ctrl-C tests would press a key nobody hears (and the runs they start
# would never stop). Python's own handler, as an interactive start has it.
signal.signal(signal.SIGINT, signal.default_int_handler)


def cli(*args, timeout=300, env=None):
    """Run `python -m benchmark ARGS` as a user would; returns the CompletedProcess."""
    return subprocess.run([sys.executable, "-m", "benchmark", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


def kill_after_records(args, results: Path, records: int = 1, env=None, new_session=False, timeout=240):
    """Start `python -m benchmark ARGS`, SIGKILL it once `results` holds `records` lines
    (or it ended, or `timeout` passed), and return the lines left behind."""
    proc = subprocess.Popen([sys.executable, "-m", "benchmark", *map(str, args)], cwd=ROOT,
                            env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=new_session)
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if results.exists() and len(results.read_text().splitlines()) >= records:
            break
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return proc, results.read_text().splitlines() if results.exists() else []


def ctrl_c_at(monkeypatch, task_cls, variant: str, step: int = 3) -> None:
    """Press Ctrl-C, a real SIGINT to this process, when `variant`'s cell of `task_cls` ends training step `step`."""
    def on_train_batch_end(self, outputs, batch, batch_idx):
        if self.model_cfg.variant == variant and self.global_step == step:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(task_cls, "on_train_batch_end", on_train_batch_end)


@pytest.fixture
def data_dir():
    if not DATA.is_dir():
        pytest.skip(f"shared data not found at {DATA}")
    return DATA


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """`publish(repo, {split: datasets.Dataset}, config)` puts a data set into a private `datasets`
    cache exactly where a real hub load leaves it, so that `load_dataset(repo, config)` (and so
    tasks.data.sources.load_hub) finds it with no network, as a user's cached download is found.

    How (datasets 5.2): offline, `load_dataset("owner/name", config)` cannot reach the hub and falls
    back to `CachedDatasetModuleFactory`, which serves HF_DATASETS_CACHE/owner___name/<config>/
    <version>/<hash>/ (dataset_info.json plus name-<split>.arrow). The packaged Parquet builder
    writes that layout (with `config_id` = the config's name) under the bare name, so it is built
    in a scratch folder and moved under `owner___name`. `Dataset.push_to_hub` needs the network;
    a cache of `load_dataset("parquet", ...)` is filed under "parquet", not under the repo id.
    The revision is not part of the layout: offline, any revision loads the latest cached copy."""
    import shutil

    import datasets
    from datasets.naming import camelcase_to_snakecase
    from datasets.packaged_modules.parquet.parquet import Parquet

    root = tmp_path / "hf-datasets"
    # datasets reads HF_DATASETS_CACHE once, at import: point its setting here, not the variable.
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(root))
    monkeypatch.setenv("RNNBENCH_CACHE", str(tmp_path / "rnnbench-cache"))  # hub loads are keyed by settings alone

    def publish(repo: str, splits: dict, config: str = "default") -> None:
        namespace, name = repo.split("/")
        name = camelcase_to_snakecase(name)
        files = {}
        for split, ds in splits.items():
            files[split] = str(tmp_path / "hub-files" / repo / config / f"{split}.parquet")
            Path(files[split]).parent.mkdir(parents=True, exist_ok=True)
            ds.to_parquet(files[split])
        scratch = tmp_path / "hub-build"
        builder = Parquet(cache_dir=str(scratch), dataset_name=name, config_name=config, config_id=config,
                          hash="0" * 16, data_files=files, features=next(iter(splits.values())).features)
        builder.download_and_prepare()
        (root / f"{namespace}___{name}").mkdir(parents=True, exist_ok=True)
        shutil.move(str(scratch / name / config), str(root / f"{namespace}___{name}" / config))

    return publish

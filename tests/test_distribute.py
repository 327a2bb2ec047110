"""Scale in training: the disk feature cache, two workers with
MultiWorkerMirroredStrategy, and mixed precision."""

import json
import os
import socket
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

import transfer_keras as tk
from transfer_keras import features as tk_features
from transfer_keras.data.pipelines import RecordFile


def _toy_dataset(n=32, size=32, batch_size=8):
    """Bright vs dark images: learnable in a few steps."""
    rng = np.random.default_rng(0)
    labels = (np.arange(n) % 2).astype("int32")
    images = rng.uniform(0, 120, (n, size, size, 3)) + labels[:, None, None, None] * 120
    return tf.data.Dataset.from_tensor_slices((images.astype("float32"), labels)).batch(
        batch_size)


def _tiny_model():
    return tk.build_classifier("mobilenet", 2, input_shape=(32, 32, 3), weights=None, alpha=0.25)


def test_features_spill_to_disk_past_the_limit_and_match_memory():
    model, ds = _tiny_model(), _toy_dataset()
    in_memory = tk_features.extract_outputs(model, {"ds": ds})["ds"]
    on_disk = tk_features.extract_outputs(model, {"ds": ds}, memory_limit=1)["ds"]
    assert isinstance(in_memory[0], np.ndarray) and isinstance(on_disk[0], RecordFile)
    np.testing.assert_array_equal(on_disk[0].read_all(), in_memory[0])
    np.testing.assert_array_equal(on_disk[1], in_memory[1])
    assert on_disk[2] == in_memory[2] == 8
    # A limit between one and all batches: the first batches move to disk too.
    partly = tk_features.extract_outputs(model, {"ds": ds}, memory_limit=in_memory[0][:12].nbytes)
    np.testing.assert_array_equal(partly["ds"][0].read_all(), in_memory[0])


def test_a_tiny_limit_caches_stage_one_on_disk_and_the_history_says_so(monkeypatch):
    model, ds = _tiny_model(), _toy_dataset()
    backbone_runs = []
    real_extract = tk_features.extract_outputs
    monkeypatch.setattr(tk_features, "extract_outputs", lambda *args, **kwargs: (
        backbone_runs.append(kwargs["memory_limit"]) or real_extract(*args, **kwargs)))
    monkeypatch.setattr(tk_features, "FEATURE_MEMORY_LIMIT", 1)
    history = tk.train_two_stage(model, ds, ds, head_epochs=3, fine_tune_epochs=0,
                                 patience=0, verbose=0)
    assert backbone_runs == [1]  # the backbone ran once (limit 1 byte) for 3 epochs
    assert history.feature_cache == "disk" and history.to_dict()["feature_cache"] == "disk"
    assert len(history.epoch) == 3 and np.isfinite(history.history["val_loss"]).all()
    with pytest.raises(ValueError, match="`feature_cache` must be one of"):
        tk.train_head(model, ds, feature_cache="ssd")


def test_mixed_precision_policy_builds_and_trains_both_stages():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model, ds = _tiny_model(), _toy_dataset(16, batch_size=16)
        history = tk.train_two_stage(model, ds, ds, head_epochs=1, fine_tune_epochs=1,
                                     verbose=0, feature_cache="disk")
        assert model.get_layer("pooling").compute_dtype == "float16"
        assert history.feature_cache == "disk"
        assert model.predict(ds, verbose=0).dtype == np.float32
        assert np.isfinite(history.history["loss"]).all()
    finally:
        keras.mixed_precision.set_global_policy("float32")


WORKER = textwrap.dedent("""
    import json, os, sys
    ports, index, out = json.loads(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    os.environ["TF_CONFIG"] = json.dumps({
        "cluster": {"worker": [f"localhost:{port}" for port in ports]},
        "task": {"type": "worker", "index": index}})
    import numpy as np
    import tensorflow as tf
    strategy = tf.distribute.MultiWorkerMirroredStrategy()  # first, before other TF work
    import keras
    import transfer_keras as tk
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    labels = (np.arange(32) % 2).astype("int32")
    images = (rng.uniform(0, 120, (32, 32, 32, 3)) + labels[:, None, None, None] * 120)
    ds = tf.data.Dataset.from_tensor_slices((images.astype("float32"), labels)).batch(8)
    model = tk.build_classifier("mobilenet", 2, input_shape=(32, 32, 3), weights=None, alpha=0.25,
                                strategy=strategy)
    history = tk.train_two_stage(model, ds, ds, head_epochs=2, fine_tune_epochs=1,
                                 patience=0, strategy=strategy, verbose=0,
                                 feature_cache=sys.argv[4])
    np.savez(out, *model.get_weights())
    print(json.dumps({"replicas": strategy.num_replicas_in_sync,
                      "epochs": len(history.epoch), "cache": history.feature_cache,
                      "multi_worker": isinstance(model.distribute_strategy,
                                                 tf.distribute.MultiWorkerMirroredStrategy)}))
""")


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow
def test_two_workers_with_multi_worker_mirrored_strategy_end_with_the_same_weights(tmp_path):
    """Two local CPU worker processes, each with its TF_CONFIG, train the same model:
    stage 1 on cached features (on disk, for one worker's part), then stage 2.

    Each worker gets every other batch (TensorFlow's automatic sharding), so
    equal weights at the end mean the gradients were averaged across both.
    Keras 3 (up to at least 3.15 with TensorFlow 2.21) cannot `fit` there on
    its own (tensorflow/tensorflow#72388): `_keras_compat.multi_worker_fit`
    works around its two bugs, and this test fails if that stops working.
    """
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    ports = _free_ports(2)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    workers = [subprocess.Popen(
        [sys.executable, str(script), json.dumps(ports), str(index),
         str(tmp_path / f"weights{index}.npz"), ("memory", "disk")[index]],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for index in range(2)]
    outputs = []
    try:
        for worker in workers:
            stdout, stderr = worker.communicate(timeout=240)
            assert worker.returncode == 0, stderr[-3000:]
            outputs.append(json.loads(stdout.strip().splitlines()[-1]))
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
    assert [o["replicas"] for o in outputs] == [2, 2]
    assert [o["multi_worker"] for o in outputs] == [True, True]
    assert [o["epochs"] for o in outputs] == [3, 3]
    assert [o["cache"] for o in outputs] == ["memory", "disk"]
    first, second = (np.load(tmp_path / f"weights{i}.npz") for i in range(2))
    assert len(first.files) == len(second.files) > 0
    for name in first.files:
        np.testing.assert_allclose(first[name], second[name], rtol=1e-5, atol=1e-6)
    initial = _tiny_model_weights()
    changed = any(not np.allclose(a, first[n]) for a, n in zip(initial, first.files))
    assert changed  # they trained, not just both kept the initial weights


def _tiny_model_weights():
    keras.utils.set_random_seed(0)
    return _tiny_model().get_weights()

"""pickled_size: the size of the pickle inside a model file, compressed (read in a stream) or
a plain pickle as stored before compression."""

import pickle

import numpy as np

from kiln.registry import TrainedModel, pickled_size


def test_the_pickle_size_of_compressed_and_plain_model_files(tmp_path):
    payload = {"weights": np.zeros(300_000), "name": "x"}  # 2.4 MB that compresses to little
    model = TrainedModel.__new__(TrainedModel)
    model.__dict__.update(payload)
    compressed, plain = tmp_path / "compressed", tmp_path / "plain"
    compressed.write_bytes(model.to_bytes())
    plain.write_bytes(pickle.dumps(payload))
    expected = len(pickle.dumps(model, protocol=5))  # as to_bytes pickles
    assert compressed.stat().st_size < expected / 50
    assert pickled_size(compressed, chunk=4096) == expected
    assert pickled_size(plain) == plain.stat().st_size

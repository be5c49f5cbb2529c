# Copyright (c) mmx3d contributors. All rights reserved.
"""Proposal pickles are read without running code from them."""
import os
import pickle

import numpy as np
import pytest

from mmx3d.datasets import load_proposals
from mmx3d.fileio import UnsafePickleError, load_data_pickle

PROPOSALS = {
    'v1,0902': np.array([[0.1, 0.2, 0.5, 0.9, 0.95],
                         [0.0, 0.0, 1.0, 1.0, 0.85]], np.float32),
    'v1,0903': np.array([[0.3, 0.1, 0.6, 0.7]], np.float64),  # no scores
    'v2,0902': np.zeros((0, 5), np.float32),
}


class _Payload:
    """Unpickling this runs a shell command that creates ``marker``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}', )


class _EvalPayload:

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return eval, (f'open({self.marker!r}, "w").close()', )


@pytest.mark.parametrize('payload', [_Payload, _EvalPayload])
def test_hostile_proposal_pickle_is_refused_and_does_not_run(
        tmp_path, payload):
    marker = tmp_path / 'pwned'
    path = str(tmp_path / 'proposals.pkl')
    # the payload hides in an otherwise valid proposal dict
    with open(path, 'wb') as f:
        pickle.dump({'v1,0902': PROPOSALS['v1,0902'],
                     'v1,0903': payload(marker)}, f)
    with pytest.raises(UnsafePickleError) as e:
        load_proposals(path)
    assert not marker.exists(), 'the pickled command ran'
    msg = str(e.value)
    assert path in msg and 'refused' in msg
    assert ('system' in msg) or ('eval' in msg)
    assert 'numpy arrays' in msg  # what was expected


@pytest.mark.parametrize('protocol', [0, 2, 4, 5])
def test_real_proposal_pickles_load_in_every_protocol(tmp_path, protocol):
    path = str(tmp_path / f'p{protocol}.pkl')
    with open(path, 'wb') as f:
        pickle.dump(PROPOSALS, f, protocol=protocol)
    got = load_proposals(path)
    assert sorted(got) == sorted(PROPOSALS)
    np.testing.assert_array_equal(got['v1,0902'], PROPOSALS['v1,0902'])
    # (N, 4) gets score 1; float64 becomes float32
    np.testing.assert_allclose(got['v1,0903'],
                               [[0.3, 0.1, 0.6, 0.7, 1.0]], rtol=1e-6)
    assert got['v1,0903'].dtype == np.float32
    assert got['v2,0902'].shape == (0, 5)


def test_numpy_scalars_and_containers(tmp_path):
    path = str(tmp_path / 'misc.pkl')
    obj = {'a': [np.float32(0.5), np.int64(3), (1, 2.0, 'x')],
           'b': np.arange(6, dtype=np.int16).reshape(2, 3)}
    with open(path, 'wb') as f:
        pickle.dump(obj, f, protocol=2)
    got = load_data_pickle(path)
    assert got['a'][0] == np.float32(0.5) and got['a'][1] == 3
    assert got['a'][2] == (1, 2.0, 'x')
    np.testing.assert_array_equal(got['b'], obj['b'])


def test_codecs_encode_only_latin1(tmp_path):
    """``_codecs.encode`` (bytes in protocols 0-2) cannot reach another
    codec."""
    path = tmp_path / 'codec.pkl'
    path.write_bytes(b'c_codecs\nencode\n(Vabc\nVrot13\ntR.')
    with pytest.raises(UnsafePickleError, match='latin-1'):
        load_data_pickle(str(path))


def test_garbage_and_missing_files_are_named(tmp_path):
    bad = tmp_path / 'bad.pkl'
    bad.write_bytes(b'\x80\x04not a pickle')
    with pytest.raises(ValueError, match='bad.pkl.*not a readable pickle'):
        load_proposals(str(bad))
    with pytest.raises(FileNotFoundError, match='nothere.pkl'):
        load_proposals(str(tmp_path / 'nothere.pkl'))


def test_npz_proposals_without_pickle(tmp_path):
    path = str(tmp_path / 'proposals.npz')
    np.savez(path, **PROPOSALS)
    got = load_proposals(path)
    ref = tmp_path / 'proposals.pkl'
    with open(ref, 'wb') as f:
        pickle.dump(PROPOSALS, f)
    want = load_proposals(str(ref))
    assert sorted(got) == sorted(want)
    for key in want:
        np.testing.assert_array_equal(got[key], want[key])
    # an object array would need pickle: refused, naming the file
    obj = str(tmp_path / 'objects.npz')
    np.savez(obj, **{'v1,0902': np.array([None, 1], dtype=object)})
    with pytest.raises(ValueError, match='objects.npz.*without pickle'):
        load_proposals(obj)

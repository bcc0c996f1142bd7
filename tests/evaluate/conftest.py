import pytest

from iclkit.testing import tiny_experiment


@pytest.fixture(scope="session")
def experiment_dir(tmp_path_factory):
    """zero-shot (collapsed), random-4 x 3 seeds, bm25-2: built once, read-only for the tests."""
    return tiny_experiment(tmp_path_factory.mktemp("experiment") / "exp")

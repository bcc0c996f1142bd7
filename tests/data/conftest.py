import os

import pytest

from iclkit.paths import CACHE_ENV


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    """Keep datasets' Arrow cache for these tests out of the user's ~/.cache/iclkit (shared by the whole session)."""
    old = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(tmp_path_factory.mktemp("iclkit-cache"))
    yield
    if old is None:
        os.environ.pop(CACHE_ENV, None)
    else:
        os.environ[CACHE_ENV] = old

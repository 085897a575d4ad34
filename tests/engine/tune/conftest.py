from __future__ import annotations

import pytest

from tests.engine.tune.helpers import Trained, train_pirate


@pytest.fixture(scope="session")
def pirate(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    pytest.importorskip("peft")
    return train_pirate(tmp_path_factory.mktemp("pirate"))

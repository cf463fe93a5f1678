"""A model loader for the model-process tests (`ServerConfig.model_loader`): the real
bundle, whose predictions wait while the gate file named by TAGGER_TEST_GATE is absent
(model work that takes as long as the test wants). A prediction that begins writes
`GATE.PID.started` first. Imported in the model processes, never by the server."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

GATE_ENV = "TAGGER_TEST_GATE"


def load(path: str) -> Any:
    from tagger.api import Tagger

    model = Tagger.load(path)
    gate = os.environ.get(GATE_ENV)
    predict = model.predict

    def gated(*args: Any, **kwargs: Any) -> Any:
        if gate:
            Path(f"{gate}.{os.getpid()}.started").touch()
            deadline = time.monotonic() + 60
            while not Path(gate).exists():
                if time.monotonic() > deadline:
                    raise RuntimeError("the test never opened the gate")
                time.sleep(0.02)
        return predict(*args, **kwargs)

    model.predict = gated  # type: ignore[method-assign]
    return model

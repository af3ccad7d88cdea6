"""OpenBLAS held to one thread: its spinning pool would take a core from the models."""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import ThreadpoolController

from talker.blas import use_one_thread
from talker.config import Settings
from talker.models.kit import ModelKit


def _blas_threads() -> list[int]:
    return [library["num_threads"] for library in ThreadpoolController().info() if library["user_api"] == "blas"]


def test_use_one_thread_holds_every_loaded_blas_to_one_thread() -> None:
    with ThreadpoolController().limit(limits=2, user_api="blas"):
        assert _blas_threads() and max(_blas_threads()) == 2
        assert use_one_thread()
        assert _blas_threads() == [1] * len(_blas_threads())
        product = np.ones((300, 300)) @ np.ones((300, 300))  # still computes, on one thread
        assert product[0, 0] == 300


@pytest.mark.models
def test_the_recogniser_holds_blas_to_one_thread_once_loaded(settings: Settings, kit: ModelKit) -> None:
    from talker.asr.whisper import create

    with ThreadpoolController().limit(limits=2, user_api="blas"):
        create(settings).load()
        assert _blas_threads() == [1] * len(_blas_threads())

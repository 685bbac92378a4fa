"""Shared fixtures."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="module")
def torch_single_thread():
    """Run a module's torch work on one thread: with two cores shared with other processes, torch's default
    of one thread per core oversubscribes them and can slow small models down by an order of magnitude."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():  # encoder tests share the machine with other test processes
    torch.set_num_threads(1)

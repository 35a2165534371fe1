"""A one-line error raised inside a DataLoader worker (decoding a clip) stays one line naming the file: torch
re-raises it wrapped in "Caught ... in DataLoader worker process 0. Original Traceback ...", which printed
as a first line without the file (a grid cell's reason said only "Caught AudioDecodeError in DataLoader
worker process 0.")."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from grounding_eval.audio.io import AudioDecodeError, decode


class Broken(Dataset):
    def __init__(self, path: str) -> None:
        self.path = path

    def __len__(self) -> int:
        return 1

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.as_tensor(decode(self.path)[0])


def test_a_decode_error_in_a_worker_is_the_original_line(tmp_path):
    bad = tmp_path / "empty.wav"
    bad.write_bytes(b"")
    with pytest.raises(AudioDecodeError) as caught:
        next(iter(DataLoader(Broken(str(bad)), num_workers=1)))
    message = str(caught.value)
    assert "\n" not in message and str(bad) in message and "the file is empty" in message
    assert message.endswith("(in a data-loader worker)") and not message.startswith("Caught")

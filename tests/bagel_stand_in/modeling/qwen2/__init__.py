"""TEST DOUBLE for Bagel's modeling.qwen2: a tokenizer that only checks its files exist."""

import os


class Qwen2Tokenizer:
    def __init__(self, path):
        self.path = path

    @classmethod
    def from_pretrained(cls, path):
        if not os.path.isfile(os.path.join(path, "tokenizer.json")):
            raise OSError(f"no tokenizer.json in {path}")
        return cls(path)

"""Batches for sentence classifiers: padding, masks, lengths, and a length-bucketing sampler.

A batch is a dict::

    tokens  LongTensor [B, T]   word ids, right-padded with 0 (<pad>)
    mask    BoolTensor [B, T]   True on real tokens
    lengths LongTensor [B]      number of real tokens (on CPU, as packing wants)
    label   LongTensor [B]
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch.utils.data import Dataset, Sampler


class EncodedDataset(Dataset):
    """Token-id lists and integer labels, held as Python lists (fast to index)."""

    def __init__(self, ids: list[list[int]], labels: list[int]):
        if len(ids) != len(labels):
            raise ValueError("ids and labels differ in length")
        self.ids = ids
        self.labels = labels

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> tuple[list[int], int]:
        return self.ids[i], self.labels[i]

    def lengths(self) -> list[int]:
        return [len(x) for x in self.ids]


def encode_texts(texts: Sequence[str], tokenizer: Any, vocab: Any, max_length: int | None = None) -> list[list[int]]:
    """Tokenise and map to ids; an empty result becomes ``[<unk>]`` so every example has a token."""
    out = []
    for text in texts:
        ids = vocab.encode(tokenizer(text))
        if max_length is not None:
            ids = ids[:max_length]
        out.append(ids or [vocab.unk_id])
    return out


def pad_batch(seqs: Sequence[Sequence[int]], pad_id: int = 0) -> dict[str, torch.Tensor]:
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
    tokens = torch.full((len(seqs), int(lengths.max()) if len(seqs) else 0), pad_id, dtype=torch.long)
    for i, s in enumerate(seqs):
        tokens[i, : len(s)] = torch.as_tensor(s, dtype=torch.long)
    mask = torch.arange(tokens.size(1))[None, :] < lengths[:, None]  # [B, T]
    return {"tokens": tokens, "mask": mask, "lengths": lengths}


def collate(items: Sequence[tuple[list[int], int]]) -> dict[str, torch.Tensor]:
    batch = pad_batch([ids for ids, _ in items])
    batch["label"] = torch.tensor([y for _, y in items], dtype=torch.long)
    return batch


def _dist() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class BucketBatchSampler(Sampler[list[int]]):
    """Seeded shuffling batch sampler, optionally grouping examples of similar length.

    With ``bucket=True`` examples are shuffled, cut into pools of ``pool * batch_size``, each pool
    sorted by length and cut into batches, then the batches are shuffled: little padding, still random.
    The order depends only on ``seed`` and the epoch (``set_epoch``), so a resumed run sees the
    same batches. Under DDP each rank takes every ``world_size``-th batch (same count on every rank).
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, shuffle: bool = True, bucket: bool = True,
                 seed: int = 0, pool: int = 50, drop_last: bool = False):
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.bucket = bucket
        self.seed = seed
        self.pool = pool
        self.drop_last = drop_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _batches(self) -> list[list[int]]:
        idx = list(range(len(self.lengths)))
        rng = random.Random(self.seed * 100_003 + self.epoch)
        if self.shuffle:
            rng.shuffle(idx)
        if self.bucket:
            size = self.pool * self.batch_size
            pools = [sorted(idx[i : i + size], key=lambda j: self.lengths[j]) for i in range(0, len(idx), size)]
            idx = [j for p in pools for j in p]
        batches = [idx[i : i + self.batch_size] for i in range(0, len(idx), self.batch_size)]
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        if self.shuffle and self.bucket:
            rng.shuffle(batches)
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        rank, world = _dist()
        batches = self._batches()
        per_rank = len(batches) // world if world > 1 else len(batches)
        yield from batches[rank::world][:per_rank]

    def __len__(self) -> int:
        n = len(self.lengths) // self.batch_size if self.drop_last else math.ceil(len(self.lengths) / self.batch_size)
        _, world = _dist()
        return n // world if world > 1 else n


def make_loader(ds: Any, lengths: Sequence[int], collate_fn: Any, batch_size: int, shuffle: bool, bucket: bool,
                seed: int, num_workers: int = 0, own_generator: bool = True) -> torch.utils.data.DataLoader:
    """The one batched loader every family uses: :class:`BucketBatchSampler` over ``lengths`` (seeded, epoch-
    dependent order, so a resumed run sees the batches the killed one would have; DDP-sharded) and
    ``collate_fn``. Worker seeds come from a generator seeded with ``seed``, so starting an epoch draws nothing from
    the global RNG (the dropout masks'); ``own_generator=False`` lets torch draw them from the global RNG, as the
    captioner's loader always did (its recorded runs reproduce only so)."""
    sampler = BucketBatchSampler(lengths, batch_size, shuffle=shuffle, bucket=bucket, seed=seed)
    generator = torch.Generator().manual_seed(seed) if own_generator else None
    return torch.utils.data.DataLoader(ds, batch_sampler=sampler, collate_fn=collate_fn, num_workers=num_workers,
                                       generator=generator)

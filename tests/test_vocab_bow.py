import torch

from dl4nlp.data.batching import BucketBatchSampler, pad_batch
from dl4nlp.data.vocab import PAD, UNK, Vocab
from dl4nlp.models.bow import idf_from_vocab, sparse_bow


def test_vocab_min_count_max_size_and_roundtrip(tmp_path):
    docs = [["a", "b", "a"], ["a", "c"], ["b", "d"]]
    v = Vocab.build(docs, min_count=2)
    assert v.itos == [PAD, UNK, "a", "b"]
    assert v.encode(["a", "zzz", "b"]) == [2, 1, 3]
    assert v.doc_freq[2] == 2 and v.num_docs == 3
    assert Vocab.build(docs, max_size=3).itos == [PAD, UNK, "a"]
    v.save(tmp_path / "vocab.json")
    w = Vocab.load(tmp_path / "vocab.json")
    assert w.itos == v.itos and w.doc_freq == v.doc_freq


def _dense(tokens, mask, V, scheme, idf=None, normalize=False):
    f = torch.zeros(tokens.size(0), V)
    for b in range(tokens.size(0)):
        for t, m in zip(tokens[b].tolist(), mask[b].tolist(), strict=True):
            if m:
                f[b, t] += 1
    if scheme == "binary":
        f = (f > 0).float()
    if scheme == "tfidf":
        f = f * idf
    if normalize:
        f = f / f.norm(dim=1, keepdim=True)
    return f


def test_sparse_bow_equals_dense_features():
    torch.manual_seed(0)
    V = 12
    b = pad_batch([[2, 3, 3, 5], [4], [7, 7, 7, 2, 11]])
    idf = torch.rand(V) + 0.5
    W = torch.randn(V, 3)
    for scheme in ("counts", "binary", "tfidf"):
        for norm in (False, True):
            ids, offsets, values = sparse_bow(b["tokens"], b["mask"], scheme, idf, norm)
            got = torch.nn.functional.embedding_bag(ids, W, offsets, mode="sum", per_sample_weights=values)
            want = _dense(b["tokens"], b["mask"], V, scheme, idf, norm) @ W
            assert torch.allclose(got, want, atol=1e-5), (scheme, norm)


def test_idf_smooth_formula():
    v = Vocab.build([["a"], ["a", "b"], ["c"], ["a"]])
    idf = idf_from_vocab(v)
    a = v.stoi["a"]
    assert abs(float(idf[a]) - (torch.log(torch.tensor(5 / 4)) + 1)) < 1e-6


def test_padding_and_mask():
    b = pad_batch([[5, 6, 7], [8]])
    assert b["tokens"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert b["mask"].tolist() == [[True, True, True], [True, False, False]]
    assert b["lengths"].tolist() == [3, 1]


def test_bucket_sampler_covers_all_and_is_seeded():
    lengths = [i % 17 + 1 for i in range(203)]
    s = BucketBatchSampler(lengths, 10, shuffle=True, bucket=True, seed=3)
    s.set_epoch(1)
    e1 = list(s)
    assert sorted(i for b in e1 for i in b) == list(range(203))
    assert len(e1) == len(s) == 21
    s2 = BucketBatchSampler(lengths, 10, shuffle=True, bucket=True, seed=3)
    s2.set_epoch(1)
    assert list(s2) == e1
    s2.set_epoch(2)
    assert list(s2) != e1
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in e1) / len(e1)
    unbucketed = BucketBatchSampler(lengths, 10, shuffle=True, bucket=False, seed=3)
    spread_u = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in unbucketed) / len(e1)
    assert spread < spread_u  # bucketing groups similar lengths


def test_tokenizer_appends_word_ngrams_after_the_words():
    from dl4nlp.data.tokenize import Tokenizer

    assert Tokenizer(ngrams=1)("Not bad at all") == ["not", "bad", "at", "all"]
    assert Tokenizer(ngrams=2)("Not bad at all") == ["not", "bad", "at", "all", "not bad", "bad at", "at all"]
    assert Tokenizer(ngrams=3)("a b") == ["a", "b", "a b"]  # no 3-gram in two words

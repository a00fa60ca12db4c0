import gzip
import json
from pathlib import Path

import pytest

from dl4nlp.core.config import DataConfig
from dl4nlp.core.errors import ConfigError, DataError
from dl4nlp.data.sentiment import read_imdb, read_records, read_sst2, read_sst5, read_table
from dl4nlp.data.tokenize import Tokenizer
from dl4nlp.data.trees import parse_tree, read_trees

SHARED_SST = Path(__file__).resolve().parents[2] / "shared" / "data" / "sst"


def test_parse_tree_leaves_labels_and_subtrees():
    t = parse_tree("(3 (2 (2 The) (2 Rock)) (4 (3 rocks) (2 -LRB-x-RRB-)))")
    assert t.label == 3
    assert t.leaves() == ["The", "Rock", "rocks", "-LRB-x-RRB-"]
    assert [s.label for s in t.subtrees()] == [3, 2, 2, 2, 4, 3, 2]
    assert parse_tree("(2 -LRB-)").leaves() == ["("]


@pytest.mark.parametrize(
    "line, problem",
    [
        ("(3 (2 a) (2 b)", "missing ')'"),
        ("(x (2 a))", "not an integer"),
        ("(7 (2 a))", "out of range"),
        ("3 (2 a)", "expected '('"),
        ("(3 (2 a)) trailing", "unexpected text"),
        ("(3 )", "neither word nor children"),
        ("( (2 a))", "no label"),
    ],
)
def test_malformed_tree_names_file_and_line(tmp_path, line, problem):
    f = tmp_path / "train.txt"
    f.write_text("(3 (2 ok) (3 fine))\n" + line + "\n", encoding="utf-8")
    with pytest.raises(DataError) as err:
        read_trees(f)
    assert f"{f}:2" in str(err.value)
    assert problem in str(err.value)


def test_tree_file_with_a_byte_order_mark_is_read(tmp_path):
    f = tmp_path / "train.txt"
    f.write_text("(3 (2 ok) (3 fine))\n(1 (2 not) (1 fine))\n", encoding="utf-8-sig")
    assert [t.label for t in read_trees(f)] == [3, 1]
    assert read_trees(f)[0].leaves() == ["ok", "fine"]


def test_sst_sentence_and_phrase_level(sst_dir):
    cfg = DataConfig(path=str(sst_dir))
    s5 = read_sst5(cfg, 0)
    s2 = read_sst2(cfg, 0)
    assert s5.labels[0] == "very negative" and len(s5.labels) == 5
    assert s2.labels == ["negative", "positive"]
    assert len(s5.train) == 50 and len(s2.train) == 48  # neutral sentences dropped in SST-2
    assert set(s2.train["label"]) == {0, 1}
    cfg.phrases = True
    p2 = read_sst2(cfg, 0)
    assert len(p2.train) > len(s2.train)  # every labelled non-neutral subtree
    assert len(p2.dev) == len(s2.dev)  # dev/test stay sentence-level
    assert 2 not in set(p2.train["label"])
    cfg.unique_phrases = True  # each distinct phrase once; every distinct phrase kept
    u2 = read_sst2(cfg, 0)
    assert len(u2.train) == len(set(u2.train["text"])) == len(set(p2.train["text"])) < len(p2.train)
    assert len(u2.dev) == len(s2.dev)


@pytest.mark.skipif(not (SHARED_SST / "dev.txt").is_file(), reason="shared SST data not present")
def test_real_sst_dev_counts_match_readme():
    cfg = DataConfig(path=str(SHARED_SST))
    from dl4nlp.data.sentiment import _sst_rows

    rows = _sst_rows(SHARED_SST / "dev.txt", binary=False, phrases=False)
    assert len(rows) == 1101
    assert sum(1 for r in rows if r["label"] != 2) == 872
    assert cfg.path  # the reader takes the official PTB-tree file as is


def test_table_formats_and_label_order(tmp_path):
    (tmp_path / "a.csv").write_text('text,label\n"good, fun",pos\nbad,neg\nfine,pos\n', encoding="utf-8")
    (tmp_path / "b.tsv").write_text("sentence\tstars\n" + "nice\t5\nmeh\t1\n" * 10, encoding="utf-8")
    (tmp_path / "small.tsv").write_text("sentence\tstars\nnice\t5\nmeh\t1\n", encoding="utf-8")
    (tmp_path / "c.jsonl").write_text('{"t": "ok", "y": 1}\n\n{"t": "no", "y": 0}\n', encoding="utf-8")
    rows, seen = read_records(tmp_path / "a.csv", "text", "label")
    assert rows[0]["text"] == "good, fun" and seen == ["pos", "neg", "pos"]
    cfg = DataConfig(dataset="table", path=str(tmp_path), train_file="b.tsv", text_column="sentence",
                     label_column="stars")
    splits = read_table(cfg, seed=0)
    assert splits.labels == ["1", "5"]  # numeric labels in numeric order
    assert splits.sizes() == {"train": 16, "dev": 2, "test": 2}
    with pytest.raises(DataError, match="only 2 training examples"):
        read_table(DataConfig(dataset="table", path=str(tmp_path), train_file="small.tsv",
                              text_column="sentence", label_column="stars"), seed=0)
    rows, _ = read_records(tmp_path / "c.jsonl", "t", "y")
    assert [r["label"] for r in rows] == ["1", "0"]


def test_only_train_gives_80_10_10(tmp_path):
    lines = ["text\tlabel"] + [f"sentence {i}\t{i % 2}" for i in range(100)]
    (tmp_path / "t.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    cfg = DataConfig(dataset="table", path=str(tmp_path), train_file="t.tsv")
    s = read_table(cfg, seed=7)
    assert s.sizes() == {"train": 80, "dev": 10, "test": 10}
    again = read_table(cfg, seed=7)
    assert again.test["text"] == s.test["text"]  # the split follows the seed


@pytest.mark.parametrize(
    "content, problem, line",
    [
        ("text,label\nhello,1\n,0\n", "empty text", 3),
        ("text,lab\nhello,1\n", "missing column 'label'", 2),
        ("text,label\nhello,1\nworld,7\n", "unknown label '7'", 3),
        ("text,label\nhello,1\ntoo,many,fields,1\n", "4 fields but the header has 2", 3),
        ("text,label\na,1\nb,0\nc,1\nd,0\ne,1\n\"unterminated quote,1\nf,0\ng,1\n", "quote opened on this line", 7),
        ("text,label\na,1\n\n\n\"unterminated quote,1\nf,0\n", "quote opened on this line", 5),  # after blank lines
        ("text,label\n\na,1\n\nhello,1\n,0\n", "empty text", 6),
        ('text,label\nhello,1\n"quoted"tail,0\n', "malformed row", 3),
    ],
)
def test_table_bad_input(tmp_path, content, problem, line):
    f = tmp_path / "x.csv"
    f.write_text(content, encoding="utf-8")
    with pytest.raises(DataError) as err:
        read_records(f, "text", "label", {"0": 0, "1": 1})
    assert problem in str(err.value) and f"{f}:{line}" in str(err.value)


@pytest.mark.parametrize(
    "text, label, problem",
    [
        (["a", "list"], 1, "text in column 'text' must be a string, got [\"a\", \"list\"]"),
        (7, 1, "text in column 'text' must be a string, got 7"),
        ("fine", 0.5, "label 0.5 in column 'label' must be a string or an integer"),
        ("fine", True, "label true in column 'label' must be a string or an integer"),
        ("fine", [1], "label [1] in column 'label' must be a string or an integer"),
    ],
)
def test_jsonl_text_must_be_a_string_and_labels_strings_or_integers(tmp_path, text, label, problem):
    f = tmp_path / "x.jsonl"
    f.write_text(json.dumps({"text": "ok", "label": 0}) + "\n" + json.dumps({"text": text, "label": label}) + "\n",
                 encoding="utf-8")
    with pytest.raises(DataError) as err:
        read_records(f, "text", "label")
    assert f"{f}:2: {problem}" in str(err.value)


def test_jsonl_integral_float_label_is_the_integer(tmp_path):
    f = tmp_path / "x.jsonl"
    f.write_text('{"text": "a", "label": 1}\n{"text": "b", "label": 1.0}\n{"text": "c", "label": "0"}\n',
                 encoding="utf-8")
    rows, seen = read_records(f, "text", "label")
    assert seen == ["1", "1", "0"]  # two classes, not a third "1.0"


NON_UTF8 = {  # line 4 holds a Latin-1 "é" (byte 0xe9)
    "train.txt": b"(3 (2 ok) (3 fine))\n" * 3 + b"(3 (2 caf\xe9) (3 fine))\n",
    "x.csv": b"text,label\nok,1\nfine,0\ncaf\xe9,1\n",
    "x.tsv": b"text\tlabel\nok\t1\nfine\t0\ncaf\xe9\t1\n",
    "x.jsonl": b'{"text": "ok", "label": 1}\n\n{"text": "fine", "label": 0}\n{"text": "caf\xe9", "label": 1}\n',
}


@pytest.mark.parametrize("name", [*NON_UTF8, "x.csv.gz", "x.jsonl.gz"])
def test_non_utf8_bytes_name_file_line_and_byte(tmp_path, name):
    f = tmp_path / name
    data = NON_UTF8[name.removesuffix(".gz")]
    f.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    with pytest.raises(DataError) as err:
        read_trees(f) if name == "train.txt" else read_records(f, "text", "label")
    assert str(err.value) == f"{f}:4: not UTF-8 text (byte 0xe9)"


def test_corrupt_gzip_names_the_file(tmp_path):
    f = tmp_path / "x.csv.gz"
    f.write_bytes(b"\x1f\x8bnotreallygzip")
    with pytest.raises(DataError, match=rf"^{f}: not a valid gzip file"):
        read_records(f, "text", "label")


def test_folder_given_for_a_table_file(tmp_path):
    (tmp_path / "train.csv").mkdir()
    with pytest.raises(DataError, match=r"train\.csv: is a directory, expected a file"):
        read_table(DataConfig(dataset="table", path=str(tmp_path), train_file="train.csv"), 0)


def test_bad_json_and_missing_file(tmp_path):
    f = tmp_path / "x.jsonl"
    f.write_text('{"text": "a", "label": 1}\n{"text": "b", "label": \n', encoding="utf-8")
    with pytest.raises(DataError, match=r"x.jsonl:2: invalid JSON"):
        read_records(f, "text", "label")
    with pytest.raises(DataError, match="file not found"):
        read_records(tmp_path / "nope.csv", "text", "label")
    with pytest.raises(DataError, match="SST folder not found"):
        read_sst2(DataConfig(path=str(tmp_path / "missing")), 0)
    with pytest.raises(ConfigError, match="train_file"):
        read_table(DataConfig(dataset="table", path=str(tmp_path)), 0)


def test_imdb_jsonl_dev_carved_from_train(tmp_path):
    for split in ("train", "test"):
        with (tmp_path / f"{split}.jsonl").open("w") as fh:
            for i in range(20):
                fh.write(json.dumps({"id": f"{split}/{i}", "text": f"review {i}<br />end", "label": i % 2}) + "\n")
    s = read_imdb(DataConfig(dataset="imdb", path=str(tmp_path)), seed=1)
    assert s.sizes() == {"train": 18, "dev": 2, "test": 20}
    assert Tokenizer()(s.test["text"][0]) == ["review", "0", "end"]


def test_imdb_official_folder_layout(tmp_path):
    for split in ("train", "test"):
        for lab in ("pos", "neg"):
            d = tmp_path / split / lab
            d.mkdir(parents=True)
            for i in range(5):
                (d / f"{i}_8.txt").write_text(f"{lab} review {i}", encoding="utf-8")
    s = read_imdb(DataConfig(dataset="imdb", path=str(tmp_path)), seed=1)
    assert len(s.test) == 10 and set(s.test["label"]) == {0, 1}


def _one_review_each(folder):
    for split in ("train", "test"):
        for lab in ("pos", "neg"):
            (folder / split / lab).mkdir(parents=True)
            (folder / split / lab / "0_8.txt").write_text(f"{lab} review", encoding="utf-8")


def test_imdb_review_file_not_utf8_is_named(tmp_path):
    _one_review_each(tmp_path)
    bad = tmp_path / "train" / "pos" / "9_7.txt"
    bad.write_bytes(b"a fine film\nsaid the caf\xe9 owner")
    with pytest.raises(DataError, match=rf"^{bad}:2: not UTF-8 text \(byte 0xe9\)"):
        read_imdb(DataConfig(dataset="imdb", path=str(tmp_path)), seed=1)


def test_imdb_blank_review_file_is_named(tmp_path):
    _one_review_each(tmp_path)
    blank = tmp_path / "test" / "neg" / "9_2.txt"
    blank.write_text(" \n", encoding="utf-8")
    with pytest.raises(DataError, match=rf"^{blank}: empty text"):
        read_imdb(DataConfig(dataset="imdb", path=str(tmp_path)), seed=1)


def test_imdb_jsonl_non_utf8_names_the_line(tmp_path):
    for split in ("train", "test"):
        (tmp_path / f"{split}.jsonl").write_text('{"text": "good", "label": 1}\n', encoding="utf-8")
    with (tmp_path / "test.jsonl").open("ab") as fh:
        fh.write(b'{"text": "caf\xe9", "label": 0}\n')
    with pytest.raises(DataError, match=r"test\.jsonl:2: not UTF-8 text \(byte 0xe9\)"):
        read_imdb(DataConfig(dataset="imdb", path=str(tmp_path)), seed=1)


def test_tokenizer_ptb_like():
    tok = Tokenizer(lowercase=True)
    assert tok("It's not BAD (really)!") == ["it", "'s", "not", "bad", "(", "really", ")", "!"]
    assert tok("I don't know...") == ["i", "do", "n't", "know", "..."]
    assert Tokenizer(lowercase=False)("Co-writer/director J.R.R.")[:1] == ["Co-writer/director"]

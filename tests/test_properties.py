"""Property-based tests (Hypothesis): whatever a user feeds the config loader or a data reader, the answer is a valid
result or one clear error (ConfigError / DataError naming the file), never a traceback.

Example counts are bounded by the ``dl4nlp`` settings profile (``HYPOTHESIS_PROFILE=thorough`` for a longer
search), so the file takes a few seconds in CI.
"""

from __future__ import annotations

import importlib
import math
import os
import typing
from dataclasses import fields
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dl4nlp.core.config import (
    DataConfig,
    ExperimentConfig,
    RunConfig,
    TrainConfig,
    TrainerConfig,
    from_dict,
    load_config,
)
from dl4nlp.core.errors import ConfigError, Dl4nlpError

settings.register_profile("dl4nlp", max_examples=40, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=1000, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dl4nlp"))

SECTIONS = {"data": DataConfig, "train": TrainConfig, "trainer": TrainerConfig, "run": RunConfig}

# --------------------------------------------------------------------------- the config loader

values = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.sampled_from(["nan", "inf", "-1", "0", "1e-3", "2.5", "adam", "../x", "a/b", ""]),
    st.lists(st.one_of(st.integers(-3, 3), st.text(max_size=4)), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


@st.composite
def raw_configs(draw: st.DrawFn) -> dict[str, typing.Any]:
    """A mapping of sections (known names mostly, an unknown one sometimes), each with known keys mostly."""
    raw: dict[str, typing.Any] = {}
    for name in draw(st.lists(st.sampled_from([*SECTIONS, "model", "bogus"]), max_size=4, unique=True)):
        if name == "model":
            raw[name] = draw(st.one_of(values, st.fixed_dictionaries({"name": st.sampled_from(["logreg", "gru"])})))
            continue
        keys = [f.name for f in fields(SECTIONS.get(name, RunConfig))] + ["unknown_key"]
        raw[name] = draw(st.one_of(values, st.dictionaries(st.sampled_from(keys), values, max_size=4)))
    return raw


def _valid(cfg: ExperimentConfig) -> None:
    """Every simply-typed key holds a value of its declared type, and no number is NaN or infinite."""
    for name, cls in SECTIONS.items():
        section = getattr(cfg, name)
        for key, hint in typing.get_type_hints(cls).items():
            if key == "RANGES":
                continue
            value = getattr(section, key)
            args = typing.get_args(hint) or (hint,)
            if value is None:
                assert hint is typing.Any or type(None) in args, f"{name}.{key} is None"
                continue
            if isinstance(value, float):
                assert math.isfinite(value), f"{name}.{key} = {value}"
            simple = tuple(a for a in args if a in (int, float, bool, str))
            if simple and hint is not typing.Any:
                assert isinstance(value, simple), f"{name}.{key} = {value!r} is not {simple}"
            lists = [a for a in args if typing.get_origin(a) is list]
            if lists:  # list[str] holds strings, list[float] numbers (data.rating_scale)
                item = (typing.get_args(lists[0]) or (str,))[0]
                kinds = (int, float) if item is float else (item,)
                assert isinstance(value, list) and all(isinstance(v, kinds) and not isinstance(v, bool)
                                                       for v in value), f"{name}.{key} = {value!r}"


def test_a_numeric_list_key_is_valid():
    _valid(load_config(None, ["data.rating_scale=[1, 2]"]))


@given(raw=raw_configs())
def test_config_loader_gives_a_valid_config_or_one_clear_error(raw):
    try:
        cfg = from_dict(raw, "p.yaml")
    except ConfigError as exc:
        assert str(exc).startswith("p.yaml: ") and "\n" not in str(exc)
        return
    _valid(cfg)


@given(overrides=st.lists(st.tuples(
    st.sampled_from([f"{s}.{f.name}" for s, c in SECTIONS.items() for f in fields(c)] + ["model.hidden", "x.y", "lr"]),
    st.one_of(st.text(max_size=10), st.sampled_from(["nan", "-inf", "1e400", "[1, 2]", "{a: 1}", "null", "..", "-3"]))),
    max_size=3))
def test_set_overrides_give_a_valid_config_or_one_clear_error(overrides):
    try:
        cfg = load_config(None, [f"{k}={v}" for k, v in overrides])
    except ConfigError as exc:
        assert "\n" not in str(exc)
        return
    _valid(cfg)


# --------------------------------------------------------------------------- every reader


def _reader(module: str, name: str) -> typing.Any:
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):  # a reader that is not in this checkout
        return None


def _records(path: Path) -> typing.Any:
    return _reader("dl4nlp.data.sentiment", "read_records")(path, "text", "label")


READERS: dict[str, tuple[str, typing.Any]] = {  # name -> (file suffix, read(path))
    "sst-trees": (".txt", lambda p: _reader("dl4nlp.data.trees", "read_trees")(p)),
    "table-csv": (".csv", _records),
    "table-tsv": (".tsv", _records),
    "table-jsonl": (".jsonl", _records),
    "nli-jsonl": (".jsonl", lambda p: _reader("dl4nlp.data.nli", "read_nli_file")(p)),
    "nli-tsv": (".tsv", lambda p: _reader("dl4nlp.data.nli", "read_nli_file")(p)),
    "nli-teacher": (".jsonl", lambda p: _reader("dl4nlp.data.nli", "read_teacher_file")(p)),
    "captions": (".tsv", lambda p: _reader("dl4nlp.data.captions", "read_caption_lines")(p)),
    "lm-text": (".txt", lambda p: _reader("dl4nlp.data.lm", "read_tokens")(p)),
    "conll": (".txt", lambda p: _reader("dl4nlp.data.conll", "read_conll")(p)),
    "parallel": (".txt", lambda p: _reader("dl4nlp.data.parallel", "read_lines")(p)),
    "squad": (".json", lambda p: _reader("dl4nlp.data.squad", "read_squad")(p)),
}
MODULES = {"sst-trees": "trees", "conll": "conll", "parallel": "parallel", "squad": "squad"}

STRUCTURE = '()[]{}":,\t 0123456789-.abcxyz\\é😀'
cells = st.one_of(st.text(alphabet=STRUCTURE, max_size=8),
                  st.sampled_from(["text", "label", "premise", "hypothesis", "gold_label", "sentence1", "sentence2",
                                   "entailment", "neutral", "contradiction", "teacher_logits", "image", "caption",
                                   "-DOCSTART-", "B-PER", "I-LOC", "O", "(3 (2 a) (4 b))", "(", "NaN", "null",
                                   "[1, 2, 3]", '{"text": "a", "label": 1}',
                                   '{"premise": "a", "hypothesis": "b", "label": 0}']))
rows = st.lists(st.lists(cells, min_size=1, max_size=4).map(lambda r: r), max_size=6)


def _file_bodies() -> st.SearchStrategy[bytes]:
    as_rows = st.tuples(rows, st.sampled_from(["\t", ",", " ", ""]), st.sampled_from(["\n", "\r\n"])).map(
        lambda t: t[2].join(t[1].join(r) for r in t[0]).encode("utf-8"))
    return st.one_of(st.binary(max_size=200), as_rows, st.text(max_size=80).map(lambda s: s.encode("utf-8")))


@pytest.mark.parametrize("name", sorted(READERS))
def test_every_reader_gives_data_or_one_error_naming_the_file(name, tmp_path):
    suffix, read = READERS[name]
    module = MODULES.get(name)
    if module and _reader(f"dl4nlp.data.{module}", "__name__") is None:
        pytest.skip(f"dl4nlp.data.{module} is not in this checkout")

    @given(body=_file_bodies())
    @example(body=b"premise\thypothesis\tlabel\na\rb\tc\tneutral\n")  # a lone CR in a field (csv.Error once)
    @example(body=b"\xff\xfe(3 (2 a))")
    def check(body: bytes) -> None:
        path = tmp_path / f"input{suffix}"
        path.write_bytes(body)
        try:
            out = read(path)
        except Dl4nlpError as exc:
            assert str(path) in str(exc), f"{name}: the error does not name the file: {exc}"
            return
        assert out is not None and len(out) > 0, f"{name}: an empty result instead of an error"

    check()

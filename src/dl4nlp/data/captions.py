"""Image-caption readers, image loading/preprocessing and the caption vocabulary.

Every reader returns :class:`CaptionSplits`: per split a list of :class:`CaptionImage` (an image
reference plus all its reference captions). An image reference is a file path, or
``<archive.zip>::<member>`` for an image inside a zip (the layout of ``../shared/data``).

Layouts read (``data.dataset``):

- ``flickr8k``: the official ``Flickr8k_text`` files — ``Flickr8k.token.txt`` (``name.jpg#k<TAB>caption``)
  and ``Flickr_8k.{train,dev,test}Images.txt`` — with the images in ``Flicker8k_Dataset/`` (the official
  folder name), ``Flickr8k_Dataset/``, ``images/`` or ``images_<split>.zip`` (the shared copy, which holds
  only 266 of the 8,000 images: examples whose image is absent are skipped and counted).
- ``rsicd`` / ``nwpu_captions``: ``captions.tsv`` (header ``file split caption_index caption``) with the
  images in ``images_<split>.zip`` or an image folder (``images/``, ``RSICD_images/``); or the authors'
  Karpathy-style ``dataset_rsicd.json`` (``images: [{filename, split, sentences: [{raw}]}]``).
  NWPU-Captions here is test only.
- ``captions``: your own images — ``data.train_file`` / ``dev_file`` / ``test_file`` (relative to
  ``data.path``), each a caption file with one ``image<TAB>caption`` per line (``image#k`` names and a
  ``image<TAB>caption`` / ``file<TAB>...<TAB>caption`` header are accepted); image names are resolved
  against the caption file's folder, then ``<path>/images/``.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from dl4nlp.core.errors import ConfigError, DataError
from dl4nlp.core.io import read_text, require_file
from dl4nlp.data.tokenize import Tokenizer
from dl4nlp.data.vocab import Vocab

START, END = "<start>", "<end>"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


@dataclass
class CaptionImage:
    """One image with all its reference captions (raw text)."""

    image: str  # file path, or "<zip>::<member>"
    captions: list[str]

    @property
    def name(self) -> str:
        return self.image.split("::")[-1].replace("\\", "/").rsplit("/", 1)[-1]


@dataclass
class CaptionSplits:
    train: list[CaptionImage]
    dev: list[CaptionImage]
    test: list[CaptionImage]
    source: str = ""
    missing_images: dict[str, int] = field(default_factory=dict)  # split -> captioned images without a file

    def split(self, name: str) -> list[CaptionImage]:
        if name not in ("train", "dev", "test"):
            raise ConfigError(f"unknown split '{name}' (use train, dev, test)")
        return getattr(self, name)


# --------------------------------------------------------------------------- images


class ImageFolder:
    """Resolves image names in a folder or a zip, listing the zip once."""

    def __init__(self, location: Path):
        self.location = location
        self.is_zip = location.suffix.lower() == ".zip"
        self._names: set[str] | None = None

    def names(self) -> set[str]:
        if self._names is None:
            if self.is_zip:
                try:
                    with zipfile.ZipFile(self.location) as zf:
                        self._names = {n for n in zf.namelist() if not n.endswith("/")}
                except zipfile.BadZipFile:
                    raise DataError(f"{self.location}: not a valid zip archive") from None
            else:
                self._names = {p.name for p in self.location.iterdir() if p.is_file()}
        return self._names

    def ref(self, name: str) -> str | None:
        if name not in self.names():
            return None
        return f"{self.location}::{name}" if self.is_zip else str(self.location / name)


_ZIPS: OrderedDict[str, zipfile.ZipFile] = OrderedDict()


def _zip(path: str) -> zipfile.ZipFile:
    """Open zips are kept (a few) so reading thousands of members does not reopen the archive."""
    zf = _ZIPS.get(path)
    if zf is None:
        zf = zipfile.ZipFile(path)
        _ZIPS[path] = zf
        if len(_ZIPS) > 8:
            _ZIPS.popitem(last=False)[1].close()
    return zf


def read_image_bytes(ref: str) -> bytes:
    if "::" in ref:
        archive, member = ref.split("::", 1)
        try:
            return _zip(archive).read(member)
        except FileNotFoundError:
            raise DataError(f"{archive}: archive not found") from None
        except KeyError:
            raise DataError(f"{archive}: no member '{member}'") from None
        except zipfile.BadZipFile:
            raise DataError(f"{archive}: not a valid zip archive") from None
    p = Path(ref)
    if not p.is_file():
        raise DataError(f"{p}: image file not found")
    return p.read_bytes()


def open_image(ref: str) -> Any:
    """The image as an RGB ``PIL.Image``; a missing, truncated or non-image file is a DataError."""
    from PIL import Image, UnidentifiedImageError

    data = read_image_bytes(ref)
    try:
        img = Image.open(io.BytesIO(data))
        img.load()
        return img.convert("RGB")
    except UnidentifiedImageError:
        raise DataError(f"{ref}: not a readable image (unknown or damaged image format)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"{ref}: not a readable image ({exc})") from None


@dataclass(frozen=True)
class Preprocess:
    """Resize the shorter side to ``size`` (bicubic), centre-crop ``size x size``, scale to [0, 1],
    normalise per channel: x = (x - mean) / std. Its ``spec()`` is part of the feature-cache key."""

    size: int = 224
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)

    def spec(self) -> dict[str, Any]:
        return {
            "resize_shorter": self.size,
            "resample": "bicubic",
            "crop": "center",
            "size": self.size,
            "mean": list(self.mean),
            "std": list(self.std),
        }

    def resized(self, img: Any) -> Any:
        """The resized and cropped PIL image (what the encoder sees, also used for attention plots)."""
        from PIL import Image

        w, h = img.size
        scale = self.size / min(w, h)
        nw, nh = max(self.size, round(w * scale)), max(self.size, round(h * scale))
        img = img.resize((nw, nh), Image.BICUBIC)
        left, top = (nw - self.size) // 2, (nh - self.size) // 2
        return img.crop((left, top, left + self.size, top + self.size))

    def __call__(self, img: Any) -> torch.Tensor:
        img = self.resized(img)
        x = torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8)
        x = x.view(self.size, self.size, 3).permute(2, 0, 1).float() / 255.0  # [3, S, S]
        mean = torch.tensor(self.mean).view(3, 1, 1)
        std = torch.tensor(self.std).view(3, 1, 1)
        return (x - mean) / std


# --------------------------------------------------------------------------- caption files


def _lines(path: Path) -> list[str]:
    r"""The file's lines without their endings (``\n``, ``\r\n`` or a lone ``\r``); a missing file, a folder
    or a non-UTF-8 byte is one :class:`DataError` naming ``file:line`` (:func:`dl4nlp.core.io.read_text`)."""
    text = read_text(require_file(path))
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def read_caption_lines(path: Path, first_line: dict[str, int] | None = None) -> OrderedDict[str, list[str]]:
    """``image<TAB>caption`` (or ``image#k<TAB>caption``, ``image,caption``) lines -> image -> captions.
    ``first_line``, when given, receives the line number where each image first appears (for messages)."""
    out: OrderedDict[str, list[str]] = OrderedDict()
    for i, line in enumerate(_lines(path), 1):
        if not line.strip():
            continue
        if "\t" in line:
            parts = line.split("\t")
        else:
            parts = next(csv.reader([line]))
        if len(parts) < 2:
            raise DataError(f"{path}:{i}: expected 'image<TAB>caption', got {line[:60]!r}")
        name, caption = parts[0].strip(), parts[-1].strip()
        if (
            i == 1
            and name.lower() in ("image", "file", "filename", "image_name")
            and not name.lower().endswith(IMAGE_SUFFIXES)
        ):
            continue  # header row
        name = name.split("#", 1)[0]
        if not name:
            raise DataError(f"{path}:{i}: empty image name")
        if not caption:
            raise DataError(f"{path}:{i}: empty caption for {name}")
        out.setdefault(name, []).append(caption)
        if first_line is not None:
            first_line.setdefault(name, i)
    if not out:
        raise DataError(f"{path}: no captions found")
    return out


def read_name_list(path: Path) -> list[str]:
    return [ln.strip() for ln in _lines(path) if ln.strip()]


def _attach(
    names: list[str],
    captions: dict[str, list[str]],
    folders: list[ImageFolder],
    where: str,
    split: str,
    missing: dict[str, int],
) -> list[CaptionImage]:
    out = []
    for name in names:
        if name not in captions:
            raise DataError(f"{where}: image '{name}' has no caption")
        ref = next((r for f in folders if (r := f.ref(name)) is not None), None)
        if ref is None:
            missing[split] = missing.get(split, 0) + 1
            continue
        out.append(CaptionImage(ref, list(captions[name])))
    return out


def _folders(root: Path, split_zip: str | None, names: tuple[str, ...]) -> list[ImageFolder]:
    found = []
    if split_zip and (root / split_zip).is_file():
        found.append(ImageFolder(root / split_zip))
    for n in names:
        if (root / n).is_dir():
            found.append(ImageFolder(root / n))
    return found


def _check_nonempty(
    splits: CaptionSplits, where: str, required: tuple[str, ...] = ("train", "dev", "test")
) -> None:
    for name in required:
        if not splits.split(name):
            miss = splits.missing_images.get(name, 0)
            extra = f" ({miss} captioned images have no image file)" if miss else ""
            raise DataError(f"{where}: the {name} split has no images{extra}")


# --------------------------------------------------------------------------- readers


def read_flickr8k(data: Any, seed: int = 0) -> CaptionSplits:
    """Flickr8k: official caption file + split lists; images in the official folder or the shared zips."""
    root = Path(data.path)
    text = root / "Flickr8k_text" if not (root / "Flickr8k.token.txt").is_file() else root  # unzipped layout
    token_file = text / "Flickr8k.token.txt"
    captions = read_caption_lines(token_file)
    missing: dict[str, int] = {}
    parts = {}
    for split, list_name, zip_split in (
        ("train", "train", "train"),
        ("dev", "dev", "dev"),
        ("test", "test", "test"),
    ):
        list_file = text / f"Flickr_8k.{list_name}Images.txt"
        folders = _folders(
            root,
            f"images_{zip_split}.zip",
            ("Flicker8k_Dataset", "Flickr8k_Dataset", "Flickr8k_Dataset/Flicker8k_Dataset", "images"),
        )
        if not folders:
            raise DataError(
                f"{root}: no image folder (Flicker8k_Dataset/, images/ or images_{zip_split}.zip)"
            )
        parts[split] = _attach(read_name_list(list_file), captions, folders, str(list_file), split, missing)
    splits = CaptionSplits(parts["train"], parts["dev"], parts["test"], str(root), missing)
    _check_nonempty(splits, str(root))
    return splits


def _read_captions_tsv(path: Path) -> OrderedDict[str, tuple[str, list[str]]]:
    """``file split caption_index caption`` rows -> file -> (split, captions in caption_index order)."""
    lines = _lines(path)
    header = lines[0].split("\t") if lines else []
    cols = ["file", "split", "caption_index", "caption"]
    if [h.strip() for h in header[:4]] != cols:
        raise DataError(f"{path}:1: expected the header {' '.join(cols)} (tab-separated)")
    rows: OrderedDict[str, tuple[str, list[tuple[int, str]]]] = OrderedDict()
    for i, line in enumerate(lines[1:], 2):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 4:
            raise DataError(f"{path}:{i}: expected 4 tab-separated fields, got {len(parts)}")
        name, split, idx, caption = (p.strip() for p in parts)
        if not idx.isdigit():
            raise DataError(f"{path}:{i}: caption_index must be an integer, got {idx!r}")
        if not caption:
            raise DataError(f"{path}:{i}: empty caption for {name}")
        if name in rows and rows[name][0] != split:
            raise DataError(f"{path}:{i}: {name} is in split '{split}' here but '{rows[name][0]}' before")
        rows.setdefault(name, (split, []))[1].append((int(idx), caption))
    return OrderedDict((k, (s, [c for _, c in sorted(cs)])) for k, (s, cs) in rows.items())


def _read_karpathy_json(path: Path) -> OrderedDict[str, tuple[str, list[str]]]:
    try:
        data = json.loads("\n".join(_lines(path)))  # _lines: a non-UTF-8 byte is named with its line
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from None
    out: OrderedDict[str, tuple[str, list[str]]] = OrderedDict()
    for i, img in enumerate(data.get("images", [])):
        try:
            caps = [s.get("raw") or " ".join(s["tokens"]) for s in img["sentences"]]
            out[img["filename"]] = (img["split"], caps)
        except (KeyError, TypeError):
            raise DataError(f"{path}: images[{i}] needs filename, split and sentences") from None
    if not out:
        raise DataError(f"{path}: no images listed")
    return out


_SPLIT_NAMES = {
    "train": "train",
    "val": "dev",
    "valid": "dev",
    "dev": "dev",
    "test": "test",
    "restval": "train",
}


def _read_split_table(
    root: Path, image_dirs: tuple[str, ...], required: tuple[str, ...], json_name: str | None = None
) -> CaptionSplits:
    tsv = root / "captions.tsv"
    if tsv.is_file():
        table, where = _read_captions_tsv(tsv), tsv
    elif json_name and (root / json_name).is_file():
        table, where = _read_karpathy_json(root / json_name), root / json_name
    else:
        expected = "captions.tsv" + (f" or {json_name}" if json_name else "")
        raise DataError(f"{root}: no caption file ({expected})")
    by_split: dict[str, list[str]] = {"train": [], "dev": [], "test": []}
    raw_split: dict[str, str] = {}
    for name, (split, _) in table.items():
        if split not in _SPLIT_NAMES:
            raise DataError(f"{where}: image {name} has unknown split '{split}' (use train, val, test)")
        by_split[_SPLIT_NAMES[split]].append(name)
        raw_split[_SPLIT_NAMES[split]] = split
    captions = {k: caps for k, (_, caps) in table.items()}
    missing: dict[str, int] = {}
    parts = {}
    for split, names in by_split.items():
        zip_name = f"images_{raw_split.get(split, 'val' if split == 'dev' else split)}.zip"
        folders = _folders(root, zip_name, image_dirs)
        if names and not folders:
            raise DataError(
                f"{root}: no images for the {split} split ({zip_name} or {', '.join(image_dirs)}/)"
            )
        parts[split] = _attach(names, captions, folders, str(where), split, missing)
    splits = CaptionSplits(parts["train"], parts["dev"], parts["test"], str(root), missing)
    _check_nonempty(splits, str(root), required)
    return splits


def read_rsicd(data: Any, seed: int = 0) -> CaptionSplits:
    """RSICD (Lu et al. 2018): ``captions.tsv`` + ``images_<split>.zip``, or ``dataset_rsicd.json``."""
    return _read_split_table(
        Path(data.path), ("images", "RSICD_images"), ("train", "dev", "test"), json_name="dataset_rsicd.json"
    )


def read_nwpu_captions(data: Any, seed: int = 0) -> CaptionSplits:
    """NWPU-Captions (Cheng et al. 2022), the test split only here: an evaluation set."""
    return _read_split_table(Path(data.path), ("images", "NWPU_images"), ("test",))


def read_caption_folder(data: Any, seed: int = 0) -> CaptionSplits:
    """Your own images: one caption file per split (``data.train_file`` ...) beside the images."""
    root = Path(data.path)
    parts = {}
    missing: dict[str, int] = {}
    for split, fname in (("train", data.train_file), ("dev", data.dev_file), ("test", data.test_file)):
        if not fname:
            parts[split] = []
            continue
        cap_path = root / fname
        line_of: dict[str, int] = {}
        caps = read_caption_lines(cap_path, line_of)
        folders = [ImageFolder(cap_path.parent)] + _folders(root, None, ("images",))
        parts[split] = _attach(list(caps), caps, folders, str(cap_path), split, missing)
        if missing.get(split):
            first = next(n for n in caps if all(f.ref(n) is None for f in folders))
            raise DataError(
                f"{cap_path}:{line_of[first]}: image '{first}' not found in {cap_path.parent} or "
                f"{root / 'images'} ({missing[split]} missing)"
            )
    splits = CaptionSplits(parts["train"], parts["dev"], parts["test"], str(root), missing)
    _check_nonempty(
        splits, str(root), tuple(s for s in ("train", "dev", "test") if getattr(data, f"{s}_file"))
    )
    return splits


#: ``data.dataset`` -> caption reader
CAPTION_DATASETS: dict[str, Any] = {
    "flickr8k": read_flickr8k,
    "rsicd": read_rsicd,
    "nwpu_captions": read_nwpu_captions,
    "captions": read_caption_folder,
}


def read_caption_splits(data: Any, seed: int = 0) -> CaptionSplits:
    if data.dataset not in CAPTION_DATASETS:
        raise ConfigError(
            f"data.dataset: '{data.dataset}' is not a caption dataset (use {', '.join(CAPTION_DATASETS)})"
        )
    if not Path(data.path).is_dir():
        raise DataError(f"{data.path}: data folder not found")
    return CAPTION_DATASETS[data.dataset](data, seed)


# --------------------------------------------------------------------------- tokens and vocabulary


def caption_tokens(caption: str, tokenizer: Tokenizer, max_length: int | None = None) -> list[str]:
    """Tokenised caption without the start/end markers and without punctuation-only tokens (as the COCO
    caption evaluation's PTB tokenizer does), truncated to ``max_length`` words."""
    toks = [t for t in tokenizer(caption) if any(c.isalnum() for c in t)]
    return toks[:max_length] if max_length else toks


def build_caption_vocab(
    token_lists: list[list[str]], min_count: int = 1, max_size: int | None = None
) -> Vocab:
    """``<pad>``=0, ``<unk>``=1, ``<start>``=2, ``<end>``=3, then words by frequency."""
    return Vocab.build(token_lists, min_count, max_size, extra=(START, END))


def encode_caption(tokens: list[str], vocab: Vocab) -> list[int]:
    """``<start> w1 ... wn <end>`` as ids."""
    return [vocab.stoi[START], *vocab.encode(tokens), vocab.stoi[END]]


def decode_caption(ids: list[int], vocab: Vocab) -> list[str]:
    """Ids -> words, stopping at ``<end>`` and dropping ``<start>``/``<pad>``."""
    words = []
    end, skip = vocab.stoi[END], {vocab.stoi[START], vocab.pad_id}
    for i in ids:
        if i == end:
            break
        if i not in skip:
            words.append(vocab.itos[i])
    return words

"""Screenshots of every demo tab for the docs (docs/img/demo-<tab>.png), taken in headless Chromium.

Starts ``dl4nlp serve RUN ...`` on a free loopback port, fills each tab that is present with an
example, submits, waits for the answer and saves a PNG. Needs Debian's ``chromium`` and ``playwright``.

    python benchmarks/demo_screenshots.py runs/ladder-sst2 runs/lm/wt2-small-tied \\
        --image ../shared/data/flickr8k/... --out docs/img
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from demo_load import free_port, wait_ready  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="*")
    ap.add_argument("--out", type=Path, default=Path("docs/img"))
    ap.add_argument("--image", type=Path, default=None, help="an image for the captioning tab")
    ap.add_argument("--sentence", default="a gorgeous, witty, seductive movie, if a little too long.")
    ap.add_argument("--ner-sentence", default=None, help="for the named-entities tab (default: its example)")
    ap.add_argument("--qa", nargs=2, metavar=("PASSAGE", "QUESTION"), default=None,
                    help="for the question-answering tab (default: its example)")
    ap.add_argument("--source", default=None, help="for the translation tab (default: its example)")
    ap.add_argument("--heatmap-of", default=None, help="translation run whose heatmap is shown (default: the first)")
    ap.add_argument("--layer", type=int, default=0, help="translation: transformer layer (0 = last)")
    ap.add_argument("--head", type=int, default=0, help="translation: transformer head (0 = mean over heads)")
    args = ap.parse_args()

    from playwright.sync_api import sync_playwright

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False")
    proc = subprocess.Popen([sys.executable, "-m", "dl4nlp.cli", "serve", *args.runs, "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        wait_ready(url, proc, timeout=300)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1100, "height": 820})
            page.goto(url)
            page.wait_for_selector("button[role=tab]")
            tabs = page.locator("button[role=tab]").all_inner_texts()
            print("tabs:", tabs)

            def shot(name: str) -> None:
                page.wait_for_timeout(500)
                path = args.out / f"demo-{name}.png"
                page.screenshot(path=str(path), full_page=True)
                print("wrote", path)

            def tab(name: str) -> None:
                page.get_by_role("tab", name=name, exact=True).first.click()

            if "Sentiment" in tabs:
                tab("Sentiment")
                page.fill("#sentiment-input textarea", args.sentence)
                page.click("#sentiment-submit")
                page.wait_for_selector("#sentiment-output .prediction", timeout=60_000)
                shot("sentiment")
            if "Embeddings" in tabs:
                tab("Embeddings")
                page.click("#emb-neighbours-submit")
                page.wait_for_selector("#emb-neighbours-output .emb-word", timeout=60_000)
                shot("embeddings")
                tab("Map")
                page.click("#emb-map-submit")
                page.wait_for_selector("#emb-map-plot img, #emb-map-plot canvas, #emb-map-plot svg",
                                       timeout=60_000)
                shot("embeddings-map")
            if "Language model" in tabs:
                tab("Language model")
                page.fill("#lm-prompt textarea", "the film")
                page.click("#lm-submit")
                page.wait_for_selector("#lm-output .lm-sample", timeout=120_000)
                shot("language-model")
            if "NLI" in tabs:
                tab("NLI")
                page.click("#nli-submit")  # the tab's example pair
                page.wait_for_selector("#nli-output .nli-label", timeout=120_000)
                page.wait_for_selector("#nli-heatmap img", timeout=60_000)
                shot("nli")
            if "Named entities" in tabs:
                tab("Named entities")
                if args.ner_sentence:
                    page.fill("#ner-input textarea", args.ner_sentence)
                page.click("#ner-submit")
                page.wait_for_selector("#ner-output .ner-run", timeout=60_000)
                shot("ner")
            if "Question answering" in tabs:
                tab("Question answering")
                if args.qa:
                    page.fill("#qa-context textarea", args.qa[0])
                    page.fill("#qa-question textarea", args.qa[1])
                page.click("#qa-submit")
                page.wait_for_selector("#qa-output .qa-label", timeout=60_000)
                page.wait_for_timeout(1000)  # the heatmap, when a recurrent reader is loaded
                shot("qa")
            if "Translation" in tabs:
                translation_shot(page, args, tab, shot)
            if "Captioning" in tabs and args.image:
                tab("Captioning")
                page.set_input_files("#caption-upload input[type=file]", str(args.image))
                page.wait_for_timeout(1500)
                page.click("#caption-submit")
                page.wait_for_selector("#caption-output .caption-text", timeout=120_000)
                page.wait_for_selector("#caption-attention img", timeout=60_000)
                shot("captioning")
            if "Leaderboard" in tabs:
                tab("Leaderboard")
                page.wait_for_selector("#leaderboard-table")
                shot("leaderboard")
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def translation_shot(page, args, tab, shot) -> None:
    """The translation tab: the source sentence, greedy, the heatmap of ``--heatmap-of`` (layer / head for a
    transformer)."""
    tab("Translation")
    if args.source:
        page.fill("#translation-input textarea", args.source)
    if args.heatmap_of:
        page.click("#translation-run input")
        page.get_by_role("option", name=args.heatmap_of, exact=True).click()
    for elem, value in (("#translation-layer", args.layer), ("#translation-head", args.head)):
        if value and page.locator(f"{elem} input[type=number]").count():
            page.fill(f"{elem} input[type=number]", str(value))
            page.keyboard.press("Enter")
    page.click("#translation-submit")
    page.wait_for_selector("#translation-output table.dl4nlp-translation", timeout=60_000)
    page.wait_for_timeout(1000)  # the heatmap
    shot("translation")


if __name__ == "__main__":
    main()

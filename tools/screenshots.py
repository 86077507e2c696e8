"""Refresh the insights page's screenshots shown on the docs site (nbs/images/insights-*.png).

    .venv/bin/python tools/screenshots.py

Trains, scores and monitors a small synthetic shop with the project's commands, serves it with churn_serve, signs in
with headless Chromium and saves the page at desktop and phone widths, after a search for the riskiest customer.
"""
import sys, tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import insights_demo as demo
from playwright.sync_api import sync_playwright

IMAGES = Path(__file__).resolve().parents[1] / 'nbs' / 'images'
SIZES = {'desktop': dict(width=1280, height=900), 'phone': dict(width=390, height=844)}

def main():
    IMAGES.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as d:
        paths = demo.prepare(Path(d))
        with open(Path(d) / 'serve.log', 'w') as log:
            proc, url = demo.start_service(paths, log)
            try:
                with sync_playwright() as p:
                    browser = demo.launch(p)
                    for name, size in SIZES.items():
                        page = browser.new_page(viewport=size, is_mobile=name == 'phone')
                        demo.sign_in(page, url)
                        page.fill('#q', str(paths['victim'])); page.press('#q', 'Enter'); page.wait_for_load_state()
                        out = IMAGES / f'insights-{name}.png'
                        page.screenshot(path=str(out), full_page=True)
                        print(f'wrote {out.relative_to(IMAGES.parents[1])}')
                    browser.close()
            finally: proc.terminate(); proc.wait(10)

if __name__ == '__main__': main()

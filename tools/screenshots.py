"""Refresh the insights page's screenshots shown on the docs site (nbs/images/insights_*.png).

    .venv/bin/python tools/screenshots.py

Trains, scores (three runs) and monitors a small synthetic shop with the project's commands, serves it with churn_serve,
signs in with headless Chromium and saves: the working list, a filtered list, a customer's card, the trust panel of the
drifted shop (its monitor.json swapped in; the service reloads it), and the list at phone width.
"""
import os, shutil, sys, tempfile, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import insights_demo as demo
import pandas as pd
from playwright.sync_api import sync_playwright

IMAGES = Path(__file__).resolve().parents[1] / 'nbs' / 'images'
DESKTOP, PHONE = dict(width=1280, height=900), dict(width=390, height=844)

def shoot(page, name:str, selector:str|None=None):
    "Save the page (or one element of it) as nbs/images/insights_NAME.png"
    out = IMAGES / f'insights_{name}.png'
    if selector: page.locator(selector).screenshot(path=str(out))
    else: page.screenshot(path=str(out), full_page=True)
    print(f'wrote {out.relative_to(IMAGES.parents[1])}')

def swap_monitor(paths:dict, work:Path):
    "Put the drifted shop's monitor.json where the service reads it, atomically"
    shutil.copy(paths['drifted_monitor'], work / 'swap.json'); os.replace(work / 'swap.json', paths['monitor'])

def main():
    IMAGES.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as d:
        work = Path(d)
        paths = demo.prepare(work)
        scores = pd.read_parquet(paths['scores'])
        channel = scores.channel.value_counts().index[0]
        with open(work / 'serve.log', 'w') as log:
            proc, url = demo.start_service(paths, log)
            try:
                with sync_playwright() as p:
                    browser = demo.launch(p)
                    page = browser.new_page(viewport=DESKTOP)
                    demo.sign_in(page, url)
                    shoot(page, 'list', '#at-risk')
                    page.goto(f'{url}/insights/churn?risk=medium&recency=lapsing&channel={channel}')
                    shoot(page, 'filtered', 'main')
                    first = page.locator('#at-risk td.id a').first
                    first.click(); page.wait_for_load_state()
                    shoot(page, 'card', '#customer')
                    swap_monitor(paths, work)
                    for _ in range(50):
                        page.goto(url + '/insights/churn')
                        if 'SLO breached' in page.locator('#trust .verdict').inner_text(): break
                        time.sleep(0.3)
                    shoot(page, 'trust', '#trust')
                    phone = browser.new_page(viewport=PHONE, is_mobile=True)
                    demo.sign_in(phone, url)
                    phone.screenshot(path=str(IMAGES / 'insights_phone.png'))   # the first screen: the search on top
                    print('wrote nbs/images/insights_phone.png')
                    browser.close()
            finally: proc.terminate(); proc.wait(10)

if __name__ == '__main__': main()

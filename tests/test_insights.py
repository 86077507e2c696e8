"The insights page in a real browser: headless Chromium (Debian's) through Playwright, against churn_serve under uvicorn."
import os, re, shutil, sys
from pathlib import Path
import httpx, pandas as pd, pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT / 'tools'))
import insights_demo as demo

if not Path(demo.CHROMIUM).exists():
    if os.environ.get('CI'): pytest.fail(f'no Chromium at {demo.CHROMIUM}: .ci/system.sh installs Debian\'s chromium', pytrace=False)
    pytest.skip(f'no Chromium at {demo.CHROMIUM} (apt-get install chromium)', allow_module_level=True)
from playwright.sync_api import sync_playwright

@pytest.fixture(scope='module')
def service(tmp_path_factory):
    "A model, its scores and monitor data made by the commands, served by churn_serve"
    work = tmp_path_factory.mktemp('insights')
    paths = demo.prepare(work)
    with open(work / 'serve.log', 'w') as log:
        proc, url = demo.start_service(paths, log)
        try: yield url, paths, work
        finally: proc.terminate(); proc.wait(10)
    assert demo.API_KEY not in (work / 'serve.log').read_text(), 'the API key reached the service log'

@pytest.fixture(scope='module')
def browser():
    with sync_playwright() as p:
        b = demo.launch(p)
        yield b
        b.close()

@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={'width': 1280, 'height': 900})
    pg = ctx.new_page()
    dialogs = []
    pg.on('dialog', lambda d: (dialogs.append(d.message), d.dismiss()))
    pg.dialogs = dialogs
    yield pg
    ctx.close()

def probabilities(page):
    return [float(t.strip('%')) for t in page.locator('#at-risk td.prob').all_inner_texts()]

def test_sign_in_then_ten_customers_ordered_by_probability(service, page):
    url, paths, _ = service
    page.goto(url + '/insights/churn')
    assert page.locator('#api_key').is_visible() and page.locator('#at-risk').count() == 0
    demo.sign_in(page, url)
    probs = probabilities(page)
    assert len(probs) == 10 and probs == sorted(probs, reverse=True)
    scores = pd.read_parquet(paths['scores'])
    top = scores.sort_values(['churn_probability', 'customer_id'], ascending=[False, True]).head(10)
    assert page.locator('#at-risk td.id').all_inner_texts() == [str(c) for c in top.customer_id]
    assert probs[0] == round(100 * float(top.churn_probability.iloc[0]), 1)
    cookie = next(c for c in page.context.cookies() if c['name'] == 'churn_insights')
    assert cookie['httpOnly'] and cookie['sameSite'] == 'Strict' and cookie['expires'] > 0 and demo.API_KEY not in cookie['value']

def test_a_wrong_key_is_refused(service, page):
    url, _, _ = service
    demo.sign_in(page, url, key='not-a-key')
    assert 'That key is not valid.' in page.locator('.error').inner_text()
    assert page.locator('#at-risk').count() == 0 and not page.context.cookies()

def test_search_by_id_and_by_email(service, page):
    url, paths, _ = service
    demo.sign_in(page, url)
    scores = pd.read_parquet(paths['scores'])
    someone = scores.dropna(subset=['email']).query('~email.str.contains("<")').iloc[5]
    page.fill('#q', str(someone.customer_id)); page.press('#q', 'Enter'); page.wait_for_load_state()
    assert page.locator('article.customer h3').all_inner_texts() == [f'Customer {someone.customer_id}']
    assert f'{100 * someone.churn_probability:.1f}%' in page.locator('article.customer .prob').inner_text()
    page.fill('#q', someone.email.upper()); page.press('#q', 'Enter'); page.wait_for_load_state()
    assert f'Customer {someone.customer_id}' in page.locator('article.customer h3').all_inner_texts()
    page.fill('#q', 'nobody@example.invalid'); page.press('#q', 'Enter'); page.wait_for_load_state()
    assert 'No customer matches' in page.locator('#search .not-found').inner_text()

def test_drift_chart_has_a_point_per_day(service, page):
    url, paths, _ = service
    import json
    monitor = json.loads(Path(paths['monitor']).read_text())
    demo.sign_in(page, url)
    days = len(monitor['series'][-30:])
    assert days >= 2
    assert page.locator('#drift svg.psi circle.point').count() == sum(s['score_psi'] is not None for s in monitor['series'][-30:])
    assert page.locator('#drift svg.auc circle.point').count() == sum(s['estimated_auc'] is not None for s in monitor['series'][-30:])
    assert page.locator('#drift svg.psi line.slo').count() == 2 and page.locator('#drift svg.auc line.slo').count() == 1

def test_script_in_an_email_stays_text(service, page):
    url, paths, _ = service
    demo.sign_in(page, url)
    assert demo.EVIL_EMAIL in page.locator('#at-risk td.email').all_inner_texts()
    page.fill('#q', str(paths['victim'])); page.press('#q', 'Enter'); page.wait_for_load_state()
    assert page.locator('img').count() == 0 and page.dialogs == []
    csp = httpx.get(url + '/insights/churn').headers['content-security-policy']
    assert "default-src 'none'" in csp and 'script-src' not in csp

def test_sign_out_then_refused(service, page):
    url, _, _ = service
    demo.sign_in(page, url)
    old = {c['name']: c['value'] for c in page.context.cookies()}
    page.click('header button[type=submit]'); page.wait_for_load_state()
    assert page.locator('#api_key').is_visible() and not page.context.cookies()
    r = httpx.get(url + '/insights/churn', cookies=old)   # the old cookie, replayed, is refused too
    assert r.status_code == 401 and 'id="at-risk"' not in r.text

def test_phone_width_has_no_sideways_scroll(service, browser):
    url, _, _ = service
    ctx = browser.new_context(viewport={'width': 390, 'height': 844}, is_mobile=True)
    pg = ctx.new_page()
    demo.sign_in(pg, url)
    assert pg.evaluate('document.documentElement.scrollWidth') <= 390
    assert len(probabilities(pg)) == 10
    ctx.close()

"""The insights page in a real browser: headless Chromium (Debian's) through Playwright, against churn_serve under uvicorn.

One service for the module, on a small shop scored three times (so it has a history); axe-core (tests/js, `npm ci`)
runs inside the browser on each state of the page and must find no violation of WCAG 2.x A/AA, best practice, or the AAA contrast of 7:1.
"""
import io, json, os, shutil, sys, time
from pathlib import Path
import httpx, pandas as pd, pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT / 'tools'))
import insights_demo as demo
from mirador_churn.insights import (EMAIL_TYPES, ListQuery, complete_scores, new_on_the_list, read_history, recency_band,
                                    select_customers)

if not Path(demo.CHROMIUM).exists():
    if os.environ.get('CI'): pytest.fail(f'no Chromium at {demo.CHROMIUM}: .ci/system.sh installs Debian\'s chromium', pytrace=False)
    pytest.skip(f'no Chromium at {demo.CHROMIUM} (apt-get install chromium)', allow_module_level=True)
from playwright.sync_api import sync_playwright

AXE = ROOT / 'tests' / 'js' / 'node_modules' / 'axe-core' / 'axe.min.js'
AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice', 'wcag2aaa']   # AAA: contrast 7:1

@pytest.fixture(scope='module')
def service(tmp_path_factory):
    "A model, its scores (three runs) and monitor data made by the commands, served by churn_serve"
    work = tmp_path_factory.mktemp('insights')
    paths = demo.prepare(work)
    with open(work / 'serve.log', 'w') as log:
        proc, url = demo.start_service(paths, log)
        try: yield url, paths, work
        finally: proc.terminate(); proc.wait(10)
    assert demo.API_KEY not in (work / 'serve.log').read_text(), 'the API key reached the service log'

@pytest.fixture(scope='module')
def scores(service):
    return complete_scores(pd.read_parquet(service[1]['scores']))[0]

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

def axe_violations(page)->list:
    "axe-core's violations on the page as it is now (id, impact, first target), run inside the browser"
    if not AXE.exists():
        if os.environ.get('CI'): pytest.fail(f'no {AXE}: run.sh js_setup runs npm ci in tests/js', pytrace=False)
        pytest.skip(f'no {AXE} (cd tests/js && npm ci)')
    found = page.evaluate(AXE.read_text() + f'\n;axe.run(document, {{runOnly: {json.dumps(AXE_TAGS)}}})'
                          '.then(r => r.violations.map(v => [v.id, v.impact, v.nodes.map(n => n.target.join(" "))[0]]))')
    return found

def test_axe_can_fail(browser):
    "The negative control of every axe check here: a page without a language and an image without a text alternative"
    pg = browser.new_page()
    pg.set_content('<html><body><img src="data:,"><p style="color:#b7791f;background:#fff">watch 0.1</p></body></html>')
    found = {v[0] for v in axe_violations(pg)}
    assert {'html-has-lang', 'image-alt', 'color-contrast'} <= found, found   # 3.64:1, the old watch label's contrast
    pg.close()

def contrast(fill:str, background:str='#ffffff')->float:
    "WCAG contrast ratio of two #rrggbb colours"
    def lum(h):
        c = [int(h[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        c = [v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4 for v in c]
        return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]
    hi, lo = sorted((lum(fill), lum(background)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)

def test_contrast_can_fail():
    assert round(contrast('#b7791f'), 2) == 3.64 and contrast('#744210') >= 7   # the old watch label, and the new

def cells(page, cls):
    return page.locator(f'#at-risk td.{cls}').all_inner_texts()

def values(page): return [float(t.replace(',', '') or 'nan') for t in cells(page, 'value')]

def go(pg, url, **params):
    pg.goto(url + '/insights/churn' + ('?' + '&'.join(f'{k}={v}' for k, v in params.items()) if params else ''))

def expected(scores, **query):
    return select_customers(scores, ListQuery(**query))

def test_sign_in_then_a_page_of_the_list_by_value_at_risk(service, scores, page):
    url, paths, _ = service
    page.goto(url + '/insights/churn')
    assert page.locator('#api_key').is_visible() and page.locator('#at-risk').count() == 0
    assert axe_violations(page) == []                                   # the sign-in form too
    demo.sign_in(page, url)
    rows, total = expected(scores)
    assert page.locator('#at-risk td.id').all_inner_texts() == [str(c) for c in rows.customer_id]
    assert len(rows) == 25 and values(page) == sorted(values(page), reverse=True)
    assert f'Customers 1 to 25 of {total:,} (page 1 of {-(-total // 25)})' in page.locator('#at-risk .count').inner_text()
    by_p = scores.sort_values('churn_probability', ascending=False).customer_id.head(25).tolist()
    assert rows.customer_id.tolist() != by_p, 'value ordering must differ from probability ordering here'
    cookie = next(c for c in page.context.cookies() if c['name'] == 'churn_insights')
    assert cookie['httpOnly'] and cookie['sameSite'] == 'Strict' and cookie['expires'] > 0 and demo.API_KEY not in cookie['value']
    assert axe_violations(page) == []

def test_a_wrong_key_is_refused(service, page):
    url, _, _ = service
    demo.sign_in(page, url, key='not-a-key')
    assert 'That key is not valid.' in page.locator('.error').inner_text()
    assert page.locator('#at-risk').count() == 0 and not page.context.cookies()

def test_paging_forward_and_back(service, scores, page):
    url, _, _ = service
    demo.sign_in(page, url)
    first = page.locator('#at-risk td.id').all_inner_texts()
    page.click('a[rel=next]'); page.wait_for_load_state()
    assert 'page=2' in page.url
    rows, total = expected(scores, page=2)
    assert page.locator('#at-risk td.id').all_inner_texts() == [str(c) for c in rows.customer_id]
    assert not set(first) & set(page.locator('#at-risk td.id').all_inner_texts())
    assert f'Customers 26 to 50 of {total:,}' in page.locator('#at-risk .count').inner_text()
    page.click('a[rel=prev]'); page.wait_for_load_state()
    assert page.locator('#at-risk td.id').all_inner_texts() == first and page.locator('a[rel=prev]').count() == 0
    last = -(-total // 25)
    go(page, url, page=last)
    assert page.locator('a[rel=next]').count() == 0 and len(cells(page, 'id')) == total - 25 * (last - 1)

@pytest.mark.parametrize('field, value', [('risk', 'high'), ('risk', 'medium'), ('recency', 'lapsing'), ('recency', 'gone'),
                                          ('channel', None), ('city', None)])
def test_each_filter_through_the_form(service, scores, page, field, value):
    url, _, _ = service
    demo.sign_in(page, url)
    if value is None: value = scores[field].value_counts().index[0]   # the most common channel or city of the shop
    if field == 'city': page.fill('#city', value.upper())              # case is ignored
    else: page.select_option(f'#{field}', value)
    page.click('form.search button[type=submit]'); page.wait_for_load_state()
    assert f'{field}=' in page.url
    rows, total = expected(scores, **{field: value})
    assert total > 0 and page.locator('#at-risk td.id').all_inner_texts() == [str(c) for c in rows.customer_id]
    assert f'of {total:,} (page' in page.locator('#at-risk .count').inner_text()
    if field == 'risk':
        probs = [float(t.strip('%')) for t in cells(page, 'prob')]
        assert all(p >= 90 for p in probs) if value == 'high' else all(50 <= p < 90 for p in probs)
    if field == 'recency': assert set(cells(page, 'recency')) == {value}
    if field == 'channel': assert (scores.channel[scores.customer_id.isin(rows.customer_id)] == value).all()
    assert axe_violations(page) == []

def test_order_by_probability_and_a_band_link(service, scores, page):
    url, _, _ = service
    demo.sign_in(page, url)
    page.select_option('#order_by', 'probability')
    page.click('form.search button[type=submit]'); page.wait_for_load_state()
    probs = [float(t.strip('%')) for t in cells(page, 'prob')]
    assert probs == sorted(probs, reverse=True) and probs[0] == round(100 * float(scores.churn_probability.max()), 1)
    page.click('.bands a:has-text("lapsing")'); page.wait_for_load_state()   # a band's count links to its list
    n = int((recency_band(scores.days_since_last_order) == 'lapsing').sum())
    assert 'recency=lapsing' in page.url and f'of {n:,} (page' in page.locator('#at-risk .count').inner_text()

def test_search_by_id_email_and_name_opens_the_card(service, scores, page):
    url, paths, _ = service
    demo.sign_in(page, url)
    someone = scores.dropna(subset=['email']).query('~email.str.contains("<")').iloc[5]
    for q in (str(someone.customer_id), someone.email.upper()):
        page.fill('#q', q); page.press('#q', 'Enter'); page.wait_for_load_state()
        assert page.locator('#customer h3').inner_text() == f'Customer {someone.customer_id}: {someone["name"]}'
        assert f'{100 * someone.churn_probability:.1f}%' in page.locator('#customer dl.facts').inner_text()
    last = someone['name'].split()[-1]
    page.fill('#q', last); page.press('#q', 'Enter'); page.wait_for_load_state()
    _, total = expected(scores, q=last)
    assert total >= 1 and (total == 1 or f'of {total:,} (page' in page.locator('#at-risk .count').inner_text())
    page.fill('#q', 'nobody@example.invalid'); page.press('#q', 'Enter'); page.wait_for_load_state()
    assert 'No customer matches these filters.' in page.locator('#at-risk .empty').inner_text()

def test_a_row_links_to_its_card(service, scores, page):
    url, paths, _ = service
    demo.sign_in(page, url)
    go(page, url, risk='medium')
    link = page.locator('#at-risk td.id a').nth(2)
    cid = int(link.inner_text())
    link.click(); page.wait_for_load_state()
    assert f'customer={cid}' in page.url and 'risk=medium' in page.url     # the card keeps the list's filters
    row = scores.set_index('customer_id').loc[cid]
    card = page.locator('#customer').inner_text()
    assert page.locator('#customer h3').inner_text().startswith(f'Customer {cid}')
    assert f'{row.value_at_risk:,.0f}' in card
    assert EMAIL_TYPES[int(row.email_domain_class)] in page.locator('#customer dl.features').inner_text()   # in words
    trend = read_history(paths['scores']).query('customer_id == @cid')
    assert page.locator('#customer ul.trend li').count() == (len(trend) if len(trend) > 1 else 0)
    assert page.locator('#at-risk td.id').count() == 25                    # the list stays below the card
    assert axe_violations(page) == []

def test_csv_download_of_a_filtered_list(service, scores, page, tmp_path):
    url, paths, _ = service
    demo.sign_in(page, url)
    go(page, url, risk='high')
    with page.expect_download() as got: page.click('a.csv')
    text = Path(got.value.path()).read_text()
    assert got.value.suggested_filename.startswith('churn-list-') and got.value.suggested_filename.endswith('.csv')
    back = pd.read_csv(io.StringIO(text), keep_default_na=False, dtype=str)
    rows, total = expected(scores, risk='high')
    everyone = select_customers(scores, ListQuery(risk='high'), everything=True)[0]
    assert len(back) == total and back.customer_id.astype(int).tolist() == everyone.customer_id.tolist()   # all, not a page
    assert (back.risk_band == 'high').all()
    for col in ('name', 'email', 'channel', 'city'): assert not back[col].str.match(r'^[=+\-@\t\r]').any(), col
    # the formula of the demo's customer comes back defused, when that customer is in this list
    all_rows = pd.read_csv(io.StringIO(httpx.get(url + '/insights/churn/customers.csv',
                                                 cookies=dict((c['name'], c['value']) for c in page.context.cookies())).text),
                           keep_default_na=False, dtype=str)
    assert len(all_rows) == len(scores)
    assert all_rows.set_index('customer_id').loc[str(paths['formula']), 'name'] == "'" + demo.FORMULA_NAME
    assert httpx.get(url + '/insights/churn/customers.csv').status_code == 401        # no session, no list

def test_history_new_on_the_list_since_the_previous_run(service, scores, page):
    url, paths, _ = service
    demo.sign_in(page, url)
    history = read_history(paths['scores'])
    assert history.run.nunique() == 3
    new = new_on_the_list(history)
    runs = history.drop_duplicates('run').cutoff.tolist()
    text = page.locator('#history p.new').inner_text()
    assert f'since the previous run of {runs[-2]:%Y-%m-%d}: {len(new):,} customer' in text, text
    links = page.locator('#history p.new a')
    assert links.count() == min(len(new), 10) and all(int(t.split()[0]) in set(new) for t in links.all_inner_texts())
    assert page.locator('#history table.outcomes tbody tr').count() == 2
    first = history[history.run == 0]
    listed = first.customer_id[first.churn_probability >= 0.5]
    latest = history[history.run == 2].set_index('customer_id')
    days = (runs[-1] - runs[0]).days
    again = int((latest.days_since_last_order.reindex(listed) < days).sum())
    row = page.locator('#history table.outcomes tbody tr').first.inner_text().split('\t')
    assert row[:3] == [f'{runs[0]:%Y-%m-%d}', f'{len(listed):,}', f'{again:,}'], row

def test_trust_panel_in_a_drifted_shop(service, page):
    "The service reloads monitor.json when it changes: swap in the drifted shop's report, then put the calm one back"
    url, paths, work = service
    demo.sign_in(page, url)
    calm = page.locator('#trust').inner_text()
    assert 'SLO breached' not in calm and 'runbook' in calm
    drifted = json.loads(Path(paths['drifted_monitor']).read_text())
    assert drifted['verdict'] == 'breached', drifted['breaches']
    saved = Path(paths['monitor']).read_bytes()
    shutil.copy(paths['drifted_monitor'], work / 'swap.json'); os.replace(work / 'swap.json', paths['monitor'])
    try:
        for _ in range(50):
            page.reload()
            if 'SLO breached' in page.locator('#trust .verdict').inner_text(): break
            time.sleep(0.3)
        verdict = page.locator('#trust .verdict').inner_text()
        assert verdict.startswith('SLO breached: ') and drifted['breaches'][0] in verdict
        feats = drifted['current']['features']
        assert page.locator('#trust svg.bars rect.bar').count() == len(feats)
        diag, alert = set(drifted['slo'].get('diagnostic_features') or []), drifted['slo']['feature_psi_alert']
        assert page.locator('#trust svg.bars rect.alert').count() == sum(v['psi'] >= alert for f, v in feats.items()
                                                                          if f not in diag) > 0
        days = drifted['series'][-30:]
        assert page.locator('#trust svg.rate circle.point').count() == sum(s['estimated_churn_rate'] is not None for s in days)
        done = [c for c in drifted['cohorts'] if c.get('realized_auc') is not None][-1]
        assert f"realized ROC AUC {done['realized_auc']:.3f} against {done['estimated_auc']:.3f} estimated" in \
            page.locator('#trust p.realized').inner_text()
        assert page.locator('#trust a[href$="monitor.html#runbook"]').count() == 1
        assert axe_violations(page) == []
        fills = page.eval_on_selector_all('#trust svg text[fill]', 'ts => ts.map(t => [t.textContent, t.getAttribute("fill")])')
        assert {t for t, _ in fills} >= {'watch 0.1', 'alert 0.25'}, fills
        assert all(contrast(fill) >= 7 for _, fill in fills), fills   # axe does not check SVG text: AAA by hand
    finally:
        (work / 'swap.json').write_bytes(saved); os.replace(work / 'swap.json', paths['monitor'])

def test_script_in_an_email_stays_text(service, page):
    url, paths, _ = service
    demo.sign_in(page, url)
    go(page, url, q=str(paths['victim']))
    assert demo.EVIL_EMAIL in page.locator('#at-risk td.email').all_inner_texts()
    assert page.locator('img').count() == 0 and page.dialogs == []
    go(page, url, q=str(paths['formula']))
    assert page.locator('#customer h3').inner_text() == f"Customer {paths['formula']}: {demo.FORMULA_NAME}"
    csp = httpx.get(url + '/insights/churn').headers['content-security-policy']
    assert "default-src 'none'" in csp and 'script-src' not in csp

def test_a_bad_filter_is_named(service, page):
    url, _, _ = service
    demo.sign_in(page, url)
    r = page.goto(url + '/insights/churn?page=0')
    assert r.status == 400 and "page: expected an integer from 1 to 100,000, got '0'" in page.locator('[role=alert]').inner_text()
    assert page.goto(url + '/insights/churn?risk=high').status == 200   # the check can fail

def test_sign_out_then_refused(service, page):
    url, _, _ = service
    demo.sign_in(page, url)
    old = {c['name']: c['value'] for c in page.context.cookies()}
    page.click('header button[type=submit]'); page.wait_for_load_state()
    assert page.locator('#api_key').is_visible() and not page.context.cookies()
    r = httpx.get(url + '/insights/churn', cookies=old)   # the old cookie, replayed, is refused too
    assert r.status_code == 401 and 'id="at-risk"' not in r.text

@pytest.mark.parametrize('width', [390, 320])
def test_phone_widths_reflow_with_the_search_first(service, browser, width):
    url, _, _ = service
    ctx = browser.new_context(viewport={'width': width, 'height': 844}, is_mobile=True)
    pg = ctx.new_page()
    demo.sign_in(pg, url)
    assert pg.evaluate('document.documentElement.scrollWidth') <= width
    assert pg.locator('#search').bounding_box()['y'] < pg.locator('#at-risk').bounding_box()['y']
    assert pg.locator('#q').bounding_box()['y'] < 400                      # within the first screen
    assert pg.locator('#at-risk td.id').count() == 25
    go(pg, url, customer=int(pg.locator('#at-risk td.id').first.inner_text()))
    assert pg.evaluate('document.documentElement.scrollWidth') <= width
    assert axe_violations(pg) == []
    ctx.close()

"The docs site: one _quarto.yml, its sidebar, and what nbdev_proc_nbs makes of it; the README from index.ipynb."
import contextlib, json, os, re, stat
import pytest
from pathlib import Path
import yaml
from conftest import ROOT, copy_repo, run, tool

def test_nbs_quarto_yml_is_a_link_to_the_top_level_one():
    link = ROOT / 'nbs' / '_quarto.yml'
    assert link.is_symlink() and os.readlink(link) == '../_quarto.yml'
    assert link.read_text() == (ROOT / '_quarto.yml').read_text()

def sidebar(path):
    return yaml.safe_load(Path(path).read_text())['website']['sidebar']['contents']

def test_sidebar_lists_index_then_the_numbered_notebooks_in_order():
    numbered = sorted(p.name for p in (ROOT / 'nbs').glob('[0-9]*.ipynb'))
    assert numbered, 'no numbered notebooks'
    assert sidebar(ROOT / '_quarto.yml') == ['index.ipynb', *numbered]

@pytest.fixture(scope='module')
def proc(tmp_path_factory):
    """The working tree as `nbdev_proc_nbs` makes it into the pages Quarto renders (Quarto is not installable here: a stub
    `quarto` on PATH is enough, since nbdev_proc_nbs does not render): the copy of the repository and the command's output"""
    d = tmp_path_factory.mktemp('site')
    repo = copy_repo(d / 'repo')
    stub = d / 'bin' / 'quarto'
    stub.parent.mkdir()
    stub.write_text('#!/bin/sh\necho "quarto stub: $@" >&2\n')
    stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
    env = {'PATH': f"{stub.parent}{os.pathsep}{Path(tool('nbdev_proc_nbs')).parent}{os.pathsep}{os.environ['PATH']}"}
    return repo, run([tool('nbdev_proc_nbs')], cwd=repo, env=env)

def test_nbdev_proc_nbs_uses_the_top_level_quarto_yml(proc):
    scratch_repo, r = proc
    warned = re.findall(r'UserWarning: (.*)', r.stderr + r.stdout)
    assert not warned, f"nbdev_proc_nbs warned {len(warned)}x, first: {warned[0]}\n{r.stderr[-3000:]}"
    proc = scratch_repo / '_proc'
    assert (proc / '_quarto.yml').read_text() == (ROOT / '_quarto.yml').read_text()
    assert (scratch_repo / 'nbs' / '_quarto.yml').is_symlink(), 'nbdev replaced the link with its own _quarto.yml'
    assert not (proc / 'sidebar.yml').exists(), 'custom_sidebar is off: nbdev wrote its own sidebar.yml'
    for page in sidebar(proc / '_quarto.yml'): assert (proc / page).exists(), page
    nbdev_yml = yaml.safe_load((proc / 'nbdev.yml').read_text())
    assert nbdev_yml['website']['title'] == 'mirador_churn'

def page_texts(nb:dict)->list:
    "The Markdown a processed page renders: its Markdown cells and the Markdown outputs (show_doc's among them)"
    out = []
    for c in nb['cells']:
        if c['cell_type'] == 'markdown': out.append(''.join(c['source']))
        out += [''.join(o['data']['text/markdown']) for o in c.get('outputs', []) if 'text/markdown' in o.get('data', {})]
    return out

def heading_id(h:str)->str:
    "The id pandoc gives the heading text h (its auto_identifiers rule, which Quarto keeps)"
    h = re.sub(r'<[^>]+>|[`*]', '', h).strip().lower()
    return re.sub(r'\s+', '-', re.sub(r'[^\w\s.-]', '', h)).lstrip('0123456789.-')

def site_pages(proc_dir:Path)->dict:
    "Each processed page (as its html name) with its texts and the ids of its headings, show_doc's included"
    from nbdev.frontmatter import _nbpath2html
    pages = {}
    for nb in sorted(proc_dir.glob('*.ipynb')):
        texts = page_texts(json.loads(nb.read_text()))
        prose = [re.sub(r'```.*?```', '', t, flags=re.S) for t in texts]   # a # comment in code is no heading
        ids = {heading_id(h) for t in prose for h in re.findall(r'^#{1,6} (.+)$', t, re.M)}
        pages[_nbpath2html(nb).name] = (texts, ids)
    return pages

def dead_links(pages:dict, nbs:Path)->list:
    "Links of the pages to a page of the site, or an anchor on one, that does not exist"
    dead = []
    for name, (texts, _) in pages.items():
        for link in (l for t in texts for l in re.findall(r'\]\(([^)\s]+)\)', t)):
            target = link[len(SITE):] if link.startswith(SITE) else link
            page, _, anchor = target.partition('#')
            if re.match(r'[a-z]+:', target) or (nbs / page).is_file() and not page.endswith('.ipynb'): continue
            html = (_nb_html(nbs / page) if (nbs / page).is_file() else page) if page.endswith('.ipynb') else page or name
            if html not in pages or (anchor and anchor not in pages[html][1]): dead.append(f"{name}: {link}")
    return dead

def _nb_html(nb:Path)->str:
    from nbdev.frontmatter import _nbpath2html
    return _nbpath2html(nb).name

def signature_defects(pages:dict)->list:
    "Lines of the signature blocks show_doc writes that carry a Markdown link or a NoneType annotation"
    bad = []
    for name, (texts, _) in pages.items():
        for block in (b for t in texts for b in re.findall(r'```python\n(.*?)```', t, re.S)):
            bad += [f"{name}: {l.strip()}" for l in block.splitlines() if '](' in l or 'NoneType' in l]
    return bad

def test_processed_pages_link_only_to_anchors_that_exist(proc):
    "Every link of a page to the site (nbdev's doc links included) lands on a page and a heading it has"
    dead = dead_links(site_pages(proc[0] / '_proc'), ROOT / 'nbs')
    assert not dead, f"{len(dead)} dead links, e.g. {dead[:5]}"

def test_signatures_show_no_markdown_links_and_no_nonetype(proc):
    "nbdev links backticked names even inside signatures, where they show raw: docments comments stay plain"
    bad = signature_defects(site_pages(proc[0] / '_proc'))
    assert not bad, f"{len(bad)} signature lines, e.g. {bad[:5]}"

def test_site_checks_can_fail(proc):
    "Negative control: a dead anchor, a raw link in a signature and a NoneType annotation are each caught"
    pages = site_pages(proc[0] / '_proc')
    assert 'churn_train' in pages['cli.html'][1] and 'tracker.start' in pages['tracking.html'][1]
    fake = {'x.html': ([f"[a]({SITE}cli.html#no_such_thing) [b](cli.html#churn_train) [c](10_cli.ipynb)",
                        f"```python\ndef f(\n    a:int, # from [`g`]({SITE}cli.html#g)\n    b:NoneType=None\n):\n```"], set())}
    assert [d for d in dead_links({**pages, **fake}, ROOT / 'nbs') if d.startswith('x.html')] == [
        f"x.html: {SITE}cli.html#no_such_thing", f"x.html: {SITE}cli.html#g"]
    assert len(signature_defects(fake)) == 2

PANDOC = '3.6.1'   # pypandoc-binary 1.15: the nearest to Quarto 1.7's pandoc (3.6.3) that a package registry ships

def _outputs(c)->list:
    "A code cell's printed output as Quarto's gfm writer shows it: an indented block"
    res = []
    for o in c.get('outputs', []):
        assert o['output_type'] == 'stream' and o['name'] == 'stdout', f"index.ipynb: only printed output renders predictably: {o}"
        res.append('\n'.join('    ' + l if l else '' for l in ''.join(o['text']).rstrip('\n').split('\n')))
    return res

def render_readme(index:Path)->str:
    """What `nbdev_readme` writes from `index` (Quarto is not installable here). First nbdev's processors, as
    `nbdev_proc_nbs` runs them: the title cell becomes front matter, hidden cells go, the warning comes in, and backticked
    names of the package become links to its docs. Then Quarto's gfm writer: pandoc from markdown to gfm with its
    defaults (lines wrapped at 72 columns, smart punctuation), the title first as `# title`, code as "``` python" and a
    code cell's printed output as an indented block (as in nbdev's and fastcore's own READMEs)."""
    import pypandoc
    from execnb.nbio import read_nb
    from nbdev.processors import FilterDefaults
    nb = read_nb(index)
    with contextlib.chdir(ROOT): FilterDefaults()(nb)   # in place
    cells, title, blocks = nb.cells, None, []
    for c in cells:
        src = c.source.strip()
        if c.cell_type == 'raw' and title is None and src.startswith('---'):
            title = yaml.safe_load(src.strip('-'))['title']; continue
        if c.cell_type == 'markdown' and src: blocks.append(src)
        elif c.cell_type == 'code' and src: blocks += [f"``` python\n{src}\n```", *_outputs(c)]
    assert title, f"{index}: no title cell"
    body = pypandoc.convert_text('\n\n'.join(blocks), 'gfm', format='markdown')
    return f"# {title}\n\n\n{body}"

def test_readme_is_rendered_with_the_pinned_pandoc():
    import pypandoc
    assert pypandoc.get_pandoc_version() == PANDOC, f"pandoc {pypandoc.get_pandoc_version()}: pin pypandoc-binary for {PANDOC}"

def _prose(src:str)->str:
    "Markdown without its fenced blocks, inline code and link targets: the text pandoc's `smart` extension rewrites"
    src = re.sub(r'^```.*?^```', '', src, flags=re.M | re.S)
    src = re.sub(r'`[^`]*`', '', src)
    return re.sub(r'\]\([^)]*\)', ']', src)

def test_index_uses_only_markdown_the_renderer_reproduces():
    for c in json.loads((ROOT / 'nbs' / 'index.ipynb').read_text())['cells']:
        src = ''.join(c['source'])
        if c['cell_type'] != 'markdown': continue
        prose = _prose(src)
        for bad, why in [("'", 'a straight apostrophe (Quarto writes ’: type ’)'), ('"', 'a straight quote (Quarto writes “ ”)'),
                         ('--', 'a double hyphen (Quarto writes –)'), ('...', 'three dots (Quarto writes …)'),
                         ('<', 'raw HTML'), ('|', 'a table (pandoc re-aligns pipe tables)'), ('*', 'emphasis markers'),
                         ('$', 'a dollar sign (Quarto reads TeX math)')]:
            assert bad not in prose, f"index.ipynb has {why} in: {src[:120]!r}"

def test_readme_is_what_nbdev_readme_writes_from_index_ipynb():
    "README.md must be exactly what nbdev_readme makes of nbs/index.ipynb, so that a developer with Quarto gets a clean tree"
    readme, expected = (ROOT / 'README.md').read_text(), render_readme(ROOT / 'nbs' / 'index.ipynb')
    if readme != expected:
        a, b = readme.splitlines(), expected.splitlines()
        i = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        pytest.fail(f"README.md differs from nbs/index.ipynb at line {i + 1}:\n README: {a[i] if i < len(a) else '(end)'!r}\n"
                    f" index:  {b[i] if i < len(b) else '(end)'!r}\nregenerate it: python tests/test_docs.py")

def test_render_readme_is_faithful_to_its_input(tmp_path):
    "Negative control: a changed line in the notebook changes the rendering; the title cell is not in the body"
    nb = json.loads((ROOT / 'nbs' / 'index.ipynb').read_text())
    rendered = render_readme(ROOT / 'nbs' / 'index.ipynb')
    assert rendered.startswith('# mirador_churn\n\n\n<!-- WARNING') and rendered.count('# mirador_churn\n') == 1
    md = next(c for c in nb['cells'] if c['cell_type'] == 'markdown' and '## Two commands' in ''.join(c['source']))
    md['source'] = ''.join(md['source']).replace('Two commands', 'Three commands')
    (tmp_path / 'index.ipynb').write_text(json.dumps(nb))
    assert render_readme(tmp_path / 'index.ipynb') != rendered

SITE = 'https://mirador.github.io/mirador_churn/'   # doc_host + doc_baseurl of settings.ini

def site_anchors()->dict:
    """Each page of the site (its html name, as nbdev names it) with the anchors it has for doc links: nbdev documents
    the public names of `#| export` cells by itself, and the others a page shows with `show_doc`; a private name or an
    undocumented method has no anchor, although `_modidx` (and so nbdev's doc links) knows it"""
    from nbdev.frontmatter import _nbpath2html
    from mirador_churn._modidx import d
    pages = {}
    for nb in (ROOT / 'nbs').glob('*.ipynb'):
        src = '\n'.join(''.join(c['source']) for c in json.loads(nb.read_text())['cells'] if c['cell_type'] == 'code')
        pages[_nbpath2html(nb).name] = {n.lower() for n in re.findall(r'show_doc\(\s*([\w.]+)', src)}
    for syms in d['syms'].values():
        for name, (url, _) in syms.items():
            page, _, anchor = url.partition('#')
            if '.' not in anchor and not anchor.startswith('_'): pages.setdefault(page, set()).add(anchor)
    return pages

def test_readme_links_work_on_a_code_host():
    "Links name real files of the repository, or real pages and anchors of the docs site (a relative link breaks on one)"
    readme = (ROOT / 'README.md').read_text()
    links, pages = re.findall(r'\]\(([^)\s]+)\)', readme), site_anchors()
    assert links and any(l.startswith(SITE) and '#' in l for l in links), 'no doc links: is the README rendered?'
    base = 'https://github.com/mirador/mirador_churn/blob/main/'
    for link in links:
        if link.startswith(base): assert (ROOT / link[len(base):]).exists(), f"{link}: no such file in the repository"
        elif link.startswith(SITE):
            page, _, anchor = link[len(SITE):].partition('#')
            assert page in pages, f"{link}: no such page on the site"
            assert not anchor or anchor in pages[page], f"{link}: no such anchor on {page}"
        else: assert re.match(r'https?://', link) or (ROOT / link).exists(), f"{link}: no such file at the repository root"

def test_link_check_can_fail():
    "Negative control: a page that is not there and an anchor that is not there are both caught"
    pages = site_anchors()
    assert 'cli.html' in pages and 'churn_train' in pages['cli.html']
    assert 'nowhere.html' not in pages and '_prepared' not in pages['features.html']

def test_readme_code_runs_when_pasted(tmp_path):
    "Every python block of the README, in order, in a fresh interpreter in an empty folder: the imports are all visible"
    import sys
    readme = (ROOT / 'README.md').read_text()
    blocks = re.findall(r'^``` ?python\n(.*?)^```', readme, re.M | re.S)
    assert len(blocks) >= 3 and any('import' in b for b in blocks)
    script = '\n'.join(blocks)
    r = run([sys.executable, '-c', script], cwd=tmp_path, env={'MLFLOW_DISABLE_TELEMETRY': 'true'}, timeout=900)
    outputs = re.sub(r'^```.*?^```', '', readme, flags=re.M | re.S)   # the indented lines outside code blocks
    printed = [l.strip() for l in re.findall(r'^    (.*)$', outputs, re.M)]
    for line in printed: assert line in r.stdout, f"the README shows {line!r}, pasting its code prints:\n{r.stdout[-2000:]}"
    assert (tmp_path / 'outputs' / 'model.onnx').exists()

def test_cli_page_lists_every_console_script():
    "The table at the end of 10_cli names every command declared in settings.ini"
    import configparser
    cfg = configparser.ConfigParser(delimiters=['=']); cfg.read(ROOT / 'settings.ini')
    names = [e.split('=')[0] for e in cfg['DEFAULT']['console_scripts'].split()]
    cells = json.loads((ROOT / 'nbs' / '10_cli.ipynb').read_text())['cells']
    table = next(''.join(c['source']) for c in cells if '## All the commands' in ''.join(c['source']))
    rows = re.findall(r'^\| `(churn_\w+)` \|.*\| \[(\w+)\]\((\w+)\.ipynb\)', table, re.M)
    assert {r[0] for r in rows} >= set(names) and len(rows) >= 6, rows
    for name, page, target in rows: assert page == target and (ROOT / 'nbs' / f'{target}.ipynb').exists(), f"{name}: {target}.ipynb"

def test_readme_shows_exactly_the_two_commands():
    readme = (ROOT / 'README.md').read_text()
    cmds = re.findall(r'^(?:\$ )?(bash run\.sh \w+)', readme, re.M)
    assert sorted(set(cmds)) == ['bash run.sh test', 'bash run.sh train']

if __name__ == '__main__':   # python tests/test_docs.py: write README.md from nbs/index.ipynb
    (ROOT / 'README.md').write_text(render_readme(ROOT / 'nbs' / 'index.ipynb'))

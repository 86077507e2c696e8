"The nbdev project itself: notebooks and package in sync, clean notebooks, every notebook run, pins."
import configparser, json, re, subprocess
from pathlib import Path
import pytest
from conftest import ROOT, run, tool

NBS = sorted((ROOT / 'nbs').glob('*.ipynb'))
cfg = configparser.ConfigParser(delimiters=['=']); cfg.read(ROOT / 'settings.ini')
SETTINGS = cfg['DEFAULT']

def test_package_is_what_nbdev_export_makes_and_notebooks_are_clean(scratch_repo):
    run([tool('nbdev_export')], cwd=scratch_repo)
    run([tool('nbdev_clean')], cwd=scratch_repo)
    status = subprocess.run(['git', 'status', '--porcelain', '--untracked-files=all'], cwd=scratch_repo,
                            capture_output=True, text=True, check=True).stdout
    diff = subprocess.run(['git', 'diff', '--stat'], cwd=scratch_repo, capture_output=True, text=True).stdout
    assert status == '', f"nbdev_export / nbdev_clean change these files; edit the notebooks, then run both and commit:\n{status}\n{diff}"

@pytest.mark.parametrize('nb', NBS, ids=lambda p: p.name)
def test_no_cell_is_skipped_by_nbdev_test(nb):
    "nbdev_test exits 0 on skipped notebooks and cells: none may be skipped"
    cells = json.loads(nb.read_text())['cells']
    skip_flags = SETTINGS['tst_flags'].split()
    for c in cells:
        src = ''.join(c['source'])
        assert not re.search(r'^#\s*\|\s*eval\s*:\s*false', src, re.M | re.I), f"{nb.name}: a cell has `#| eval: false`:\n{src[:300]}"
        assert not re.search(r'skip_exec\s*:\s*true', src, re.I), f"{nb.name}: skip_exec in the front matter"
        for f in skip_flags:
            assert not re.search(rf'^#\s*\|\s*{f}\b', src, re.M), f"{nb.name}: a cell has the skipped test flag `#| {f}`"

NUMBERED = [nb for nb in NBS if nb.name[0].isdigit()]
TEXT_TYPES = ('text/plain', 'text/html', 'text/markdown')   # compared as text; images by presence

def _flags(src:str)->str: return ' '.join(l.replace(' ', '') for l in src.splitlines() if l.lstrip().startswith('#|'))

def output_lines(cell)->list:
    "A code cell's outputs as lines: streams (merged by name, as Jupyter shows them), text/plain, text/html, text/markdown; images by presence"
    blocks, streams = [], {}
    for o in cell.get('outputs', []):
        if o['output_type'] == 'stream':
            text = o['text'] if isinstance(o['text'], str) else ''.join(o['text'])
            if o['name'] in streams: blocks[streams[o['name']]][1] += text
            else: streams[o['name']] = len(blocks); blocks.append([f"[{o['name']}]", text])
        elif o['output_type'] in ('execute_result', 'display_data'):
            for kind in sorted(o.get('data', {})):
                value = o['data'][kind]
                if kind in TEXT_TYPES: blocks.append([f"[{o['output_type']} {kind}]", value if isinstance(value, str) else ''.join(value)])
                elif kind.startswith('image/'): blocks.append([f"[{o['output_type']} {kind}: an image]", ''])
        elif o['output_type'] == 'error': blocks.append([f"[error {o.get('ename')}]", o.get('evalue', '')])
    lines = []
    for head, text in blocks:
        text = re.sub(r'[^\n]*\r(?!\n)', '', text)   # what a terminal shows of a line redrawn with \r
        lines += [head, *text.splitlines()]
    return lines

def first_difference(committed:list, fresh:list)->str:
    "Where two lists of lines first differ, as a readable line"
    for i, (a, b) in enumerate(zip(committed, fresh)):
        if a != b: return f"line {i + 1}: committed {a[:200]!r}, fresh run {b[:200]!r}"
    if len(committed) > len(fresh): return f"line {len(fresh) + 1}: committed {committed[len(fresh)][:200]!r}, the fresh run has no more output"
    return f"line {len(committed) + 1}: the fresh run has {fresh[len(committed)][:200]!r}, not committed"

def compare_outputs(name:str, committed_cells:list, fresh_cells:list)->list:
    "One message per code cell whose committed outputs differ from the fresh run's: notebook, cell, first differing line"
    problems = []
    code = [(i, a, b) for i, (a, b) in enumerate(zip(committed_cells, fresh_cells)) if a['cell_type'] == 'code']
    for n, (i, a, b) in enumerate(code):
        committed, fresh = output_lines(a), output_lines(b)
        if committed != fresh:
            first = ''.join(a['source']).strip().splitlines()[:1] or ['']
            problems.append(f"{name} cell {i} (code cell {n + 1}, id {a.get('id')}, `{first[0][:60]}`): {first_difference(committed, fresh)}")
    return problems

def test_compare_outputs_finds_the_first_difference():
    "Negative control: the comparison catches a changed line, a missing output, an image gone; equal outputs pass"
    cell = lambda *outs: {'cell_type': 'code', 'id': 'abc', 'source': ['x = 1\n', 'x'], 'outputs': list(outs)}
    text = lambda s: {'output_type': 'stream', 'name': 'stdout', 'text': s}
    table = {'output_type': 'execute_result', 'data': {'text/plain': 'a\nb', 'text/html': '<table/>'}}
    image = {'output_type': 'display_data', 'data': {'image/png': 'AAAA', 'text/plain': '<Figure>'}}
    assert compare_outputs('x.ipynb', [cell(text('1\n'), text('2\n'), table, image)], [cell(text('1\n2\n'), table, image)]) == []
    [p] = compare_outputs('x.ipynb', [cell(text('1\n2\n'))], [cell(text('1\n3\n'))])
    assert p == "x.ipynb cell 0 (code cell 1, id abc, `x = 1`): line 3: committed '2', fresh run '3'", p
    assert 'not committed' in compare_outputs('x.ipynb', [cell()], [cell(table)])[0]
    assert 'an image' in compare_outputs('x.ipynb', [cell(image)], [cell({**image, 'data': {'text/plain': '<Figure>'}})])[0]
    image2 = {**image, 'data': {'image/png': 'BBBB', 'text/plain': '<Figure>'}}
    assert compare_outputs('x.ipynb', [cell(image)], [cell(image2)]) == [], 'images compare by presence only'
    assert compare_outputs('x.ipynb', [cell(text('10%\r50%\r100%\n'))], [cell(text('100%\n'))]) == []

@pytest.mark.parametrize('nb', NBS, ids=lambda p: p.name)
def test_notebook_runs_top_to_bottom_in_a_jupyter_kernel(nb):
    "What a JupyterLab user does: Run All, in a real ipykernel; the outputs must be the committed ones (same seed, same outputs)"
    import copy, os, nbformat
    from nbclient import NotebookClient
    committed = nbformat.read(nb, as_version=4)
    book = copy.deepcopy(committed)
    before = sorted(p.name for p in nb.parent.iterdir())
    env = {k: v for k, v in os.environ.items() if k != 'MPLBACKEND'}   # figures inline, as in JupyterLab
    NotebookClient(book, timeout=900, kernel_name='python3', coalesce_streams=True,
                   resources={'metadata': {'path': str(nb.parent)}}).execute(env=env)
    errors = [o for c in book.cells if c.cell_type == 'code' for o in c.get('outputs', []) if o.output_type == 'error']
    assert not errors
    assert sorted(p.name for p in nb.parent.iterdir()) == before, f"{nb.name} left files behind in nbs/"
    if nb in NUMBERED:
        problems = compare_outputs(nb.name, committed.cells, book.cells)
        fix = (f"re-run and commit the outputs: cd nbs && env -u MPLBACKEND ../.venv/bin/jupyter nbconvert --to notebook "
               f"--execute --inplace {nb.name} && cd .. && .venv/bin/nbdev_clean --fname nbs/{nb.name}")
        assert not problems, f"{len(problems)} cell(s) of {nb.name} differ from a fresh run ({fix}):\n" + '\n'.join(problems[:20])

_DRAWS = re.compile(r'\bplt\.(show|plot|subplots|figure)\b|\.plot\(|\bplot_\w+\(|\bFigure\(')

def _shown(cell)->bool:
    "A cell whose output the page shows: not hidden, not `output: false`, not exported code"
    flags = _flags(''.join(cell['source']))
    return not re.search(r'#\|(hide|export|exporti|exports|output:false|include:false)\b', flags)

_DISPLAY_CALLS = {'head', 'tail', 'round', 'describe', 'sample', 'sort_values', 'value_counts', 'to_frame', 'show_doc',
                  'style', 'pivot', 'pivot_table', 'groupby', 'agg', 'summary', 'to_string'}

def _last_is_a_display(src:str)->bool:
    "Whether the cell ends with a value Jupyter displays (a table, a dict, `df.head()`, `show_doc(...)`); calls made for a check do not count"
    import ast
    try: body = ast.parse(src).body
    except SyntaxError: return False
    if not body or not isinstance(body[-1], ast.Expr) or src.rstrip().endswith(';'): return False
    v = body[-1].value
    if isinstance(v, ast.Call):
        f = v.func
        return (f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else '') in _DISPLAY_CALLS
    return isinstance(v, (ast.Name, ast.Attribute, ast.Subscript, ast.Dict, ast.DictComp, ast.ListComp, ast.Tuple, ast.List,
                          ast.BinOp, ast.Compare, ast.JoinedStr))

@pytest.mark.parametrize('nb', NUMBERED, ids=lambda p: p.name)
def test_numbered_notebook_shows_its_results(nb):
    "The page shows what it computes: outputs committed; a figure where a cell draws; a table or value where a cell ends with one"
    cells = json.loads(nb.read_text())['cells']
    code = [c for c in cells if c['cell_type'] == 'code']
    assert any(c.get('outputs') for c in code), f"{nb.name} has no committed outputs: run it and commit them (PLAN.md)"
    drawing = [c for c in code if _shown(c) and _DRAWS.search(''.join(c['source']))]
    images = [c for c in code if any(k.startswith('image/') for o in c.get('outputs', []) for k in o.get('data', {}))]
    if drawing: assert images, f"{nb.name} draws a figure (`{''.join(drawing[0]['source']).splitlines()[0][:60]}`...) but has no image output"
    for c in code:
        src = ''.join(c['source'])
        if _shown(c) and _last_is_a_display(src):
            kinds = {k for o in c.get('outputs', []) for k in o.get('data', {})} | {o['output_type'] for o in c.get('outputs', [])}
            assert kinds & {'text/plain', 'text/html', 'image/png', 'stream'}, \
                f"{nb.name} cell {c.get('id')} ends with `{src.strip().splitlines()[-1][:80]}` but its output is not committed"

def test_last_is_a_display():
    assert _last_is_a_display('x = 1\ntest.head()') and _last_is_a_display('df') and _last_is_a_display("{k: 1 for k in 'ab'}")
    assert not _last_is_a_display('test_eq(1, 1)') and not _last_is_a_display('x = 1') and not _last_is_a_display('fig;')
    assert not _last_is_a_display('print(1)') and not _last_is_a_display('shutil.rmtree(tmp)')
    assert not _last_is_a_display('_check_cutoff(first, end)') and _last_is_a_display('show_doc(f)')

def test_pins_that_keep_nbdev_2_working():
    reqs, dev = SETTINGS['requirements'].split(), SETTINGS['dev_requirements'].split()
    assert 'nbdev==2.4.14' in dev
    assert any(r.startswith('execnb==0.1.') for r in dev), dev
    assert any(r.startswith('fastcore') and '<2' in r for r in dev + reqs)
    assert any(re.fullmatch(r'faker==[\d.]+', r) for r in reqs), "Faker must be pinned exactly: the seed-42 checksum depends on it"
    assert 'torch==2.13.0' in reqs
    import execnb, fastcore, nbdev, faker
    from importlib.metadata import version
    assert nbdev.__version__ == '2.4.14' and execnb.__version__.startswith('0.1.') and int(fastcore.__version__.split('.')[0]) < 2
    assert f"faker=={version('faker')}" in reqs

def test_console_scripts_are_declared_in_settings_and_installed():
    for entry in SETTINGS['console_scripts'].split():
        name = entry.split('=')[0]
        r = run([tool(name), '--help'])
        assert 'usage' in r.stdout.lower()

def test_manifest_names_only_files_that_exist():
    for line in (ROOT / 'MANIFEST.in').read_text().splitlines():
        words = line.split()
        if words and words[0] == 'include':
            for name in words[1:]: assert list(ROOT.glob(name)), f"MANIFEST.in includes {name}, which does not exist"

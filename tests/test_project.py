"The nbdev project itself: notebooks and package in sync, clean notebooks, every notebook run, pins."
import configparser, json, re, subprocess, sys
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

# How committed outputs are compared with a fresh run. PyTorch picks its kernels by instruction set, and MKL its code
# path by CPU, so the same seed gives the same model only up to float32 rounding on another CPU: the weights differ in
# their last bits, and so do printed floats and every fingerprint of the weights. Everything else must match exactly:
# text, integers (counts, sizes, epochs), versions, SQL, schemas, table layouts (runs of white space fold, so a float
# one digit wider may shift a column).
# - A float (a number with decimals or an exponent) matches when the two differ by at most one unit in the last
#   printed digit of the more precise one (a change far below the printed precision can still cross a rounding
#   boundary, so a page that must catch a change of one printed unit prints more digits), plus FLOAT_RTOL = 1e-6 of
#   its size: about eight float32 steps. A float printed without decimals (numpy's `1.`) gets no printed-unit slack.
#   Measured on the seed-42 pages under ATEN_CPU_CAPABILITY=default, avx2 and avx512 (and against the outputs
#   committed on another CPU): 49 printed floats differ; apart from torch-onnxruntime differences, which are noise by
#   nature (03_export shows whether they are within 1e-6, not their digits), the largest excess over one printed unit
#   is 1.4e-7 of the value (one float32 step of a probability printed in full); test ROC AUCs agree to 10 digits.
#   A real change (a feature, a default, the architecture) moves printed probabilities by 1e-2 and more:
#   test_outputs_catch_real_changes shows it on a real page.
# - A fingerprint (16 or 64 lowercase hex digits, at least one a letter: a model_version, an ONNX file's SHA-256) may
#   be another one in a fresh run of a page that trains, provided the renaming is one-to-one across the notebook: the
#   same model keeps one new name, and two models never merge into one. Elsewhere it must be equal, and so must
#   shorter hex (a data checksum's 12 digits), which is text.
FLOAT_RTOL = 1e-6
_TOKEN = re.compile(r'(?P<fp>(?<![0-9A-Za-z_.])(?:[0-9a-f]{64}|[0-9a-f]{16})(?![0-9A-Za-z_]))'
                    r'|(?P<num>(?<![A-Za-z_\d.])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?!\w|\.\d))')

def tokens(line:str)->tuple:
    "A line as (skeleton, values): the text with each number and fingerprint replaced by a marker, and those values"
    values, parts, last = [], [], 0
    for m in _TOKEN.finditer(line):
        parts.append(line[last:m.start()]); last = m.end()
        if m['fp']: kind = 'fp' if re.search('[a-f]', m['fp']) else 'int'
        else: kind = 'float' if re.search(r'[.eE]', m['num']) else 'int'
        parts.append({'fp': '\0F', 'float': '\0R', 'int': '\0I'}[kind]); values.append((kind, m[0]))
    parts.append(line[last:])
    return ' '.join(''.join(parts).split()), values

def _unit(s:str)->float:
    "One unit in the last printed digit of the float `s`; 0 for one printed without decimals (`1.`, `3e5`)"
    mantissa, _, exp = s.lower().partition('e')
    decimals = len(mantissa.partition('.')[2])
    return 10.0 ** (int(exp or 0) - decimals) if decimals else 0.0

def floats_match(a:str, b:str)->bool:
    "Whether two printed floats agree to what float arithmetic on another CPU allows: one printed unit + FLOAT_RTOL"
    x, y = float(a), float(b)
    return abs(x - y) <= min(_unit(a), _unit(b)) + FLOAT_RTOL * max(abs(x), abs(y))

def lines_match(a:str, b:str, renames:dict|None)->bool:
    "Whether two output lines agree: same text and integers, floats within tolerance, fingerprints renamed one-to-one"
    (ska, va), (skb, vb) = tokens(a), tokens(b)
    if ska != skb or [k for k, _ in va] != [k for k, _ in vb]: return False
    for (kind, x), (_, y) in zip(va, vb):
        if kind == 'int' and x != y: return False
        if kind == 'float' and not floats_match(x, y): return False
        if kind == 'fp' and x != y:
            if renames is None: return False
            if renames.setdefault(('old', x), y) != y or renames.setdefault(('new', y), x) != x: return False
    return True

def first_difference(committed:list, fresh:list, renames:dict|None=None)->str|None:
    "Where two lists of output lines first disagree (see `lines_match`), as a readable line; None where they agree"
    for i, (a, b) in enumerate(zip(committed, fresh)):
        if not lines_match(a, b, renames): return f"line {i + 1}: committed {a[:200]!r}, fresh run {b[:200]!r}"
    if len(committed) > len(fresh): return f"line {len(fresh) + 1}: committed {committed[len(fresh)][:200]!r}, the fresh run has no more output"
    if len(fresh) > len(committed): return f"line {len(committed) + 1}: the fresh run has {fresh[len(committed)][:200]!r}, not committed"

def compare_outputs(name:str, committed_cells:list, fresh_cells:list, trains:bool=True)->list:
    "One message per code cell whose committed outputs differ from the fresh run's: notebook, cell, first differing line"
    problems, renames = [], ({} if trains else None)   # fingerprints of weights: renamed one-to-one across the notebook
    code = [(i, a, b) for i, (a, b) in enumerate(zip(committed_cells, fresh_cells)) if a['cell_type'] == 'code']
    for n, (i, a, b) in enumerate(code):
        if (where := first_difference(output_lines(a), output_lines(b), renames)):
            first = ''.join(a['source']).strip().splitlines()[:1] or ['']
            problems.append(f"{name} cell {i} (code cell {n + 1}, id {a.get('id')}, `{first[0][:60]}`): {where}")
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

def test_floats_match_to_what_another_cpu_allows_and_no_further():
    "Floats within one printed unit plus the tolerance match; real changes, format changes and NaN vs number do not"
    for a, b in [('0.826896', '0.826895'), ('0.8863891363143921', '0.8863891959190369'), ('0.9157', '0.9157'),
                 ('1234.5', '1234.6'), ('0.20330', '0.20331'), ('0.8453463315963745', '0.845346212387085'), ('1.', '1.')]:
        assert floats_match(a, b), (a, b)
    for a, b in [('0.9157', '0.9167'), ('0.91', '0.9157'), ('0.826896', '0.826880'), ('3.0e-05', '5.0e-05'),
                 ('1234.5', '1234.8'), ('0.2033', '-0.2033'), ('0.84534633', '0.84534833'), ('1.', '0.'),
                 ('1e-07', '9e-07'), ('2.384186e-07', '4.768372e-07')]:
        assert not floats_match(a, b), (a, b)

def test_lines_match_is_strict_on_text_and_integers():
    "Text, integers, thousands and short checksums must be equal; only floats and fingerprints have slack"
    r = {}
    assert lines_match("'roc_auc': 0.826896, 847 rows", "'roc_auc': 0.826895, 847 rows", r)
    assert not lines_match('847 rows', '848 rows', r) and not lines_match('model.onnx: 8,419 bytes', 'model.onnx: 8,420 bytes', r)
    assert not lines_match('433 parameters', '433 weights', r) and not lines_match('epoch 45', 'epoch 45.0', r)
    assert not lines_match('checksum e8f543c8aeb1', 'checksum e8f543c8aeb2', r), '12 hex digits are a data checksum: exact'
    assert lines_match('a     0.5', 'a 0.5', r), 'a wider float may shift a column'
    assert not lines_match('ChurnMLP 8 -> 16', 'ChurnMLP 8 -> 12', r)
    assert not lines_match('[1. 0. 1.]', '[0. 1. 0.]', r) and not lines_match('epoch 45.', 'epoch 46.', r)
    assert not lines_match('torch 2.4.1', 'torch 2.5.1', r) and not lines_match('id 12e4abcdef01', 'id 13e4abcdef01', r)
    assert not lines_match('n 1234567890123456', 'n 9999999999999999', r), '16 digits and no letter: an integer'
    assert lines_match('AUC 0.9158.', 'AUC 0.9159.', r), 'a float at the end of a sentence is a float'

def test_fingerprints_are_renamed_one_to_one_across_a_notebook():
    "A model may get another version on another CPU, but the same model keeps one name and two never merge"
    cell = lambda *lines: {'cell_type': 'code', 'id': 'c', 'source': ['f()'],
                           'outputs': [{'output_type': 'stream', 'name': 'stdout', 'text': '\n'.join(lines) + '\n'}]}
    v1, v2, w1, w2 = '746b436ff2bb7d7e', 'caa25551b94fbe9b', 'f17237fbc3b9ff83', '5f7a9a8e3a7229c3'
    assert compare_outputs('x', [cell(f'{v1} -> {v2}'), cell(f'serving {v2}')], [cell(f'{w1} -> {w2}'), cell(f'serving {w2}')]) == []
    assert compare_outputs('x', [cell(f'{v1} -> {v2}'), cell(f'serving {v2}')], [cell(f'{w1} -> {w2}'), cell(f'serving {w1}')])
    assert compare_outputs('x', [cell(f'{v1} -> {v2}')], [cell(f'{w1} -> {w1}')]), 'two models merged into one'
    assert compare_outputs('x', [cell(f'sha256 {"a" * 64}')], [cell(f'sha256 {"b" * 63}')]), 'not a fingerprint any more'
    assert compare_outputs('x', [cell(v1)], [cell(w1)], trains=False), 'a page that trains nothing renames nothing'

def _capability()->str:
    "The instruction set PyTorch picks here, as the environment leaves it (ATEN_CPU_CAPABILITY, else the CPU's best)"
    import os
    return os.environ.get('ATEN_CPU_CAPABILITY') or subprocess.run(
        [sys.executable, '-c', 'import torch; print(torch.backends.cpu.get_cpu_capability().lower())'],
        capture_output=True, text=True, check=True).stdout.strip()

# The notebooks whose outputs come from PyTorch's arithmetic run a second time with its portable kernels
# (ATEN_CPU_CAPABILITY=default, on every CPU) and, where PyTorch uses MKL, MKL's AVX2 code path (MKL_CBWR=AVX2, what an
# AVX2 machine runs; ignored without MKL), so that committed outputs that hold only on one set of kernels fail here.
# That pair found 06_monitor's figures moving in their third decimal when it trained for 60 epochs.
_TORCH = re.compile(r'\b(\w*_)?train(_\w+)?\(|\b(fit_baselines|export_onnx|ChurnMLP|small_model)\(')   # train, churn_train, train_model...
TORCH_NBS = [nb for nb in NBS if _TORCH.search(nb.read_text())]
RUNS = [(nb, None) for nb in NBS] + [(nb, 'default') for nb in TORCH_NBS]

def run_notebook(nb:Path, capability:str|None=None, first_cell:str|None=None):
    "Run `nb` top to bottom in a real ipykernel (figures inline, as in JupyterLab): (committed notebook, executed copy)"
    import copy, os, nbformat
    from nbclient import NotebookClient
    committed = nbformat.read(nb, as_version=4)
    book = copy.deepcopy(committed)
    if first_cell: book.cells.insert(0, nbformat.v4.new_code_cell(first_cell))
    env = {k: v for k, v in os.environ.items() if k != 'MPLBACKEND'}
    if capability: env.update(ATEN_CPU_CAPABILITY=capability, MKL_CBWR=env.get('MKL_CBWR', 'AVX2'))
    NotebookClient(book, timeout=900, kernel_name='python3', coalesce_streams=True,
                   resources={'metadata': {'path': str(nb.parent)}}).execute(env=env)
    if first_cell: book.cells.pop(0)
    return committed, book

@pytest.mark.parametrize('nb,capability', RUNS, ids=lambda x: x.name if isinstance(x, Path) else (x or 'as-is'))
def test_notebook_runs_top_to_bottom_in_a_jupyter_kernel(nb, capability):
    "What a JupyterLab user does: Run All, in a real ipykernel; the outputs must be the committed ones (same seed, same outputs)"
    if capability and _capability() == capability: pytest.skip(f"the environment already runs ATEN_CPU_CAPABILITY={capability}")
    before = sorted(p.name for p in nb.parent.iterdir())
    committed, book = run_notebook(nb, capability)
    errors = [o for c in book.cells if c.cell_type == 'code' for o in c.get('outputs', []) if o.output_type == 'error']
    assert not errors
    assert sorted(p.name for p in nb.parent.iterdir()) == before, f"{nb.name} left files behind in nbs/"
    if nb in NUMBERED:
        problems = compare_outputs(nb.name, committed.cells, book.cells, trains=nb in TORCH_NBS)
        fix = (f"re-run and commit the outputs: cd nbs && env -u MPLBACKEND ../.venv/bin/jupyter nbconvert --to notebook "
               f"--execute --inplace {nb.name} && cd .. && .venv/bin/nbdev_clean --fname nbs/{nb.name}")
        assert not problems, f"{len(problems)} cell(s) of {nb.name} differ from a fresh run ({fix}):\n" + '\n'.join(problems[:20])

# Real changes that the tolerant comparison must still catch, each injected before the page runs.
CHANGES = {
    'a feature definition': "import mirador_churn.features as f\n_at = f._features_at\n"
                            "def _changed(*a):\n    ok, X = _at(*a); X[:, 4] *= 1.1; return ok, X\nf._features_at = _changed",
    'a default': "import mirador_churn.model as m\nd = list(m.TrainConfig.__init__.__defaults__); d[1] = 2e-3\n"
                 "m.TrainConfig.__init__.__defaults__ = tuple(d)",
    'the architecture': "import mirador_churn.model as m\nm.ChurnMLP.__init__.__defaults__ = (8, 12)",
}

@pytest.mark.parametrize('change', CHANGES)
def test_outputs_catch_real_changes(change):
    "Negative control on a real page: 03_export with a changed feature, learning rate or width no longer matches"
    committed, book = run_notebook(ROOT / 'nbs' / '03_export.ipynb', first_cell=CHANGES[change])
    problems = compare_outputs('03_export.ipynb', committed.cells, book.cells)
    assert len(problems) >= 2, f"{change}: the outputs test did not notice it: {problems}"

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

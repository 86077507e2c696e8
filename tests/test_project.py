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

@pytest.mark.parametrize('nb', NBS, ids=lambda p: p.name)
def test_notebook_runs_top_to_bottom_in_a_jupyter_kernel(nb):
    "What a JupyterLab user does: Run All, in a real ipykernel (nbdev_test uses an in-process shell instead)"
    import nbformat
    from nbclient import NotebookClient
    book = nbformat.read(nb, as_version=4)
    before = sorted(p.name for p in nb.parent.iterdir())
    NotebookClient(book, timeout=900, kernel_name='python3', resources={'metadata': {'path': str(nb.parent)}}).execute()
    errors = [o for c in book.cells if c.cell_type == 'code' for o in c.get('outputs', []) if o.output_type == 'error']
    assert not errors
    assert sorted(p.name for p in nb.parent.iterdir()) == before, f"{nb.name} left files behind in nbs/"

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

"The docs site: one _quarto.yml, its sidebar, and what nbdev_proc_nbs makes of it; the README from index.ipynb."
import json, os, re, stat
from pathlib import Path
import yaml
from conftest import ROOT, run, tool

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

def test_nbdev_proc_nbs_uses_the_top_level_quarto_yml(scratch_repo, tmp_path):
    "Quarto is not installable here: a stub `quarto` on PATH is enough for nbdev_proc_nbs, which does not render"
    stub = tmp_path / 'bin' / 'quarto'
    stub.parent.mkdir()
    stub.write_text('#!/bin/sh\necho "quarto stub: $@" >&2\n')
    stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
    env = {'PATH': f"{stub.parent}{os.pathsep}{Path(tool('nbdev_proc_nbs')).parent}{os.pathsep}{os.environ['PATH']}"}
    run([tool('nbdev_proc_nbs')], cwd=scratch_repo, env=env)
    proc = scratch_repo / '_proc'
    assert (proc / '_quarto.yml').read_text() == (ROOT / '_quarto.yml').read_text()
    assert (scratch_repo / 'nbs' / '_quarto.yml').is_symlink(), 'nbdev replaced the link with its own _quarto.yml'
    assert not (proc / 'sidebar.yml').exists(), 'custom_sidebar is off: nbdev wrote its own sidebar.yml'
    for page in sidebar(proc / '_quarto.yml'): assert (proc / page).exists(), page
    nbdev_yml = yaml.safe_load((proc / 'nbdev.yml').read_text())
    assert nbdev_yml['website']['title'] == 'mirador_churn'

def test_readme_is_index_ipynb():
    "README.md is what nbdev_readme renders from nbs/index.ipynb: every visible cell is in it"
    readme = (ROOT / 'README.md').read_text()
    assert 'DO NOT EDIT' in readme
    cells = json.loads((ROOT / 'nbs' / 'index.ipynb').read_text())['cells']
    for c in cells:
        src = ''.join(c['source']).strip()
        if c['cell_type'] == 'code' and (src.startswith('#| hide') or src.startswith('#|hide')): continue
        for line in src.splitlines():
            line = line.strip()
            if line and not line.startswith('#|'): assert line in readme, f"README.md lacks {line!r}: regenerate it from nbs/index.ipynb"

def test_readme_shows_exactly_the_two_commands():
    readme = (ROOT / 'README.md').read_text()
    cmds = re.findall(r'^(?:\$ )?(bash run\.sh \w+)', readme, re.M)
    assert sorted(set(cmds)) == ['bash run.sh test', 'bash run.sh train']

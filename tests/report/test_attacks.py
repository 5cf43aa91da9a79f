"""Issue 21's breaks, each as a hostile contributor tried it on 0.4.0: re-labelled and padded configs, markup in result
text, files `build` never writes, another profile's results, I/O faults. Each fails on 0.4.0 and holds now."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conftest import REPO, git, ok_result, recovery_config

from lvrbench.api.contracts import Cell, CellOutcome
from lvrbench.base.identity import cell_id
from lvrbench.base.text import inert, link, table
from lvrbench.report.check import check
from lvrbench.report.pages import build
from lvrbench.run.harness import to_result
from lvrbench.run.store import ResultStore

PLANNER = "not the cell the installed planner produces"


def forged(edit) -> dict:
    """A valid ok recovery-real result of the planned quick cell, `edit(config)` applied and its id recomputed: what a
    contributor who knows how ids are made can submit."""
    result = ok_result()
    edit(result["config"])
    result["id"] = cell_id(result["config"])
    return result


def rel(result: dict) -> str:
    return f"results/{result['config']['task']}/{result['id']}.json"


# -- 1. every result is the cell the planner produces ---------------------------------------------------------------

@pytest.mark.parametrize("edit, difference", [
    (lambda c: c.update(profile="standard"), "settings.evaluator.epochs is 1, the planner gives 5"),
    (lambda c: c["settings"].update(dup=1), "settings.dup is not in the planned config"),
    (lambda c: c["hparams"].update(weight=-0.0), "hparams.weight is -0.0, the planner gives 0.0"),
    (lambda c: c["hparams"].update(weight=1), "hparams.weight is 1, the planner gives 1.0"),
    (lambda c: c["settings"]["gan"]["train"].update(epochs=10**7), "settings.gan.train.epochs is 10000000, the planner gives 2"),
    (lambda c: c.update(data="0" * 16), 'data is "0000000000000000", the planner gives "d9895b436e6d4f03"'),
])
def test_a_result_whose_config_is_not_the_planned_cell_is_refused_naming_the_first_difference(registry, tmp_path, edit,
                                                                                             difference):
    root = tmp_path / "lb"
    result = forged(edit)
    ResultStore(root).write(result)
    build(registry, root)
    assert check(registry, root) == [f"{rel(result)}: {PLANNER}: {difference}"]


def test_a_config_that_would_train_without_bound_never_makes_verify_compute(registry, tmp_path, cli_here):
    result = forged(lambda c: c["settings"]["gan"]["train"].update(epochs=10**7))
    path = tmp_path / "forged.json"
    path.write_text(json.dumps(result))
    cache = tmp_path / "cache"
    code, out, err = cli_here("verify", str(path), env={"LVRBENCH_CACHE_DIR": str(cache)})
    assert (code, out, err) == (2, "", f"lvrbench: error: {path}: {PLANNER}: settings.gan.train.epochs is 10000000, the "
                                      "planner gives 2; nothing was computed\n")
    assert not cache.exists()


def test_a_junk_key_or_an_unplanned_value_is_no_new_row_on_the_page(registry, tmp_path):
    """0.4.0 showed a cell several times: as planned, and again with a junk key or -0.0 for 0.0 (new ids, same cell).
    Each copy is refused; the planned one stands."""
    root = tmp_path / "lb"
    copies = [forged(lambda c: c["settings"].update(dup=1)), forged(lambda c: c["hparams"].update(weight=-0.0))]
    for r in [ok_result(), *copies]:
        ResultStore(root).write(r)
    build(registry, root)
    assert sorted(check(registry, root)) == sorted([
        f"{rel(copies[0])}: {PLANNER}: settings.dup is not in the planned config",
        f"{rel(copies[1])}: {PLANNER}: hparams.weight is -0.0, the planner gives 0.0"])


# -- 2. text a page prints from a result is inert ---------------------------------------------------------------------

HOSTILE = ("<script>alert(1)</script> <img src=x onerror=alert(2)> [click](javascript:alert(3)) "
           "![i](https://evil.example/x.png) <https://evil.example> https://evil.example www.evil.example "
           "owner@evil.example `code` *em* | cell | $x$")
TABLE_BREAK = "</table><h1>OWNED</h1>"


class Tags(HTMLParser):
    """Every start tag of an HTML document with its attributes, and every link or image target."""

    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.targets: list[str] = []
        self.attributes: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes += [name for name, _ in attrs]
        self.targets += [value for name, value in attrs if name in ("href", "src")]


def rendered(markdown: str) -> Tags:
    """`markdown` as GitHub renders it (cmark-gfm, with its table, autolink and strike-through extensions, raw HTML
    kept so that any the page let through shows), parsed."""
    import cmarkgfm
    from cmarkgfm.cmark import Options

    parser = Tags()
    parser.feed(cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE))
    return parser


def test_inert_text_makes_no_tag_link_image_or_cell_under_githubs_renderer():
    for text in (HOSTILE, TABLE_BREAK, "- a list", "# a heading", "> a quote", "1. one", "&lt;b&gt; &#60;i&#62;"):
        prose, cells = rendered(f"text {inert(text)}\n\n{inert(text)}\n"), rendered(table([[text, "x"]], ["a", "b"]))
        assert (prose.tags, prose.targets) == (["p", "p"], []), text
        assert (cells.tags, cells.targets) == (["table", "thead", "tr", "th", "th", "tbody", "tr", "td", "td"], []), text
    assert inert("0.5 [0.4, 0.6]; a < b; lr=0.1, weight=0") == "0.5 [0.4, 0.6]; a < b; lr=0.1, weight=0"  # prose stays
    assert rendered(table([[link("seed 0", "images/t/a.png")]], ["samples"])).targets == ["images/t/a.png"]
    for target in ("javascript:alert(1)", "https://evil.example/x.png", "../outside.png", "images/a b.png"):
        with pytest.raises(ValueError):
            link("x", target)


def page_tags(registry, root: Path, text: str) -> tuple[Tags, str]:
    """The recovery-real page of a root whose results carry `text` everywhere a result holds free text: a failed
    cell's error, every provenance field, and (in a cell the planner would refuse, which `build` still renders) a
    setting the protocol line prints."""
    store = ResultStore(root)
    ok = ok_result()
    ok["provenance"] = {key: text for key in ("lvrbench", "torch", "device", "git_commit")}
    failed = to_result(Cell(recovery_config("recovery-real", "none", {"lr": 0.1})), CellOutcome(error=text),
                       {"torch": TABLE_BREAK if text == HOSTILE else text})
    crafted = forged(lambda c: c["settings"]["gan"].update(arch=text))
    for r in (ok, failed, crafted):
        store.write(r)
    build(registry, root)
    page = (root / "recovery-real.md").read_text()
    return rendered(page), page


def test_a_page_built_from_hostile_results_has_exactly_the_tags_and_links_of_a_plain_one(registry, tmp_path):
    hostile, page = page_tags(registry, tmp_path / "hostile", HOSTILE)
    plain, _ = page_tags(registry, tmp_path / "plain", "plain")
    assert hostile.tags == plain.tags and hostile.targets == plain.targets
    assert all(t.startswith("images/recovery-real/") for t in hostile.targets)
    assert not {"onerror", "onload"} & set(hostile.attributes)
    assert "OWNED" in page and "<h1>" not in page and "<script>" not in page  # shown as text, never as markup


def test_pretrained_sources_and_names_are_inert(registry):
    from lvrbench.kit.pages import pretrained_lines

    gan = {"pretrained": "g", "source": HOSTILE, "arch": TABLE_BREAK, "latent_dim": 8, "weights": "w",
           "code": {"generator": {"distribution": "[d](javascript:x)", "revision": 1}}}
    (hostile, _) = pretrained_lines([{"config": {"settings": {"gan": gan}}}])
    plain = {**gan, "source": "s", "arch": "a", "code": {"generator": {"distribution": "d", "revision": 1}}}
    (line, _) = pretrained_lines([{"config": {"settings": {"gan": plain}}}])
    assert (rendered(hostile).tags, rendered(hostile).targets) == (rendered(line).tags, []) == (["p", "code"], [])


# -- 3. a root holds exactly what `build` writes ----------------------------------------------------------------------

def test_anything_build_does_not_write_is_reported(registry, built, tmp_path):
    import pickle

    results = built / "results" / "recovery-real"
    (results / ".payload.pkl").write_bytes(pickle.dumps({"a": 1}))
    (results / ".hidden.json").write_text("{not json")
    (built / "results" / ".git").mkdir()
    (built / "results" / ".git" / "config").write_text("[core]\n")
    (built / "README-evil.md").write_text("# evil\n")
    (built / "images" / "recovery-real" / "x.svg").write_text('<svg onload="alert(1)"/>')
    (built / "images" / "nosuchtask").mkdir()
    (built / "notes.txt").write_text("notes\n")
    (built / ".recovery-real.md.k2_x9q0a.tmp").write_text("half a pa")  # what a SIGKILL during `build` leaves
    (built / ".lvrbench-build-ab12cd34").mkdir()
    (built / "archive" / "0.4.0" / "results" / "recovery-real").mkdir(parents=True)
    (built / "archive" / "0.4.0" / "notes.txt").write_text("x")
    not_built = ("is not something `lvrbench leaderboard build` writes (a root holds results/, archive/<version>/results/, "
                 "its pages and the figures they link only)")
    killed = "left by a killed writer: remove it"
    assert sorted(check(registry, built)) == sorted([
        f".lvrbench-build-ab12cd34: {killed}", f".recovery-real.md.k2_x9q0a.tmp: {killed}", f"README-evil.md: {not_built}",
        f"archive/0.4.0/notes.txt: {not_built}", f"images/nosuchtask: {not_built}", f"images/recovery-real/x.svg: {not_built}",
        f"notes.txt: {not_built}", f"results/.git: {not_built}", f"results/recovery-real/.hidden.json: {not_built}",
        f"results/recovery-real/.payload.pkl: {not_built}"])


def test_a_linked_figure_swapped_for_another_valid_png_is_found(registry, built, tmp_path):
    from lvrbench.kit.figures import image_grid

    (figure,) = (built / "images" / "recovery-real").glob("*.png")
    image_grid({"kind": "images", "shape": [1, 1, 2, 2], "data": "AAAAAA=="}, tmp_path / "other.png")
    shutil.copyfile(tmp_path / "other.png", figure)
    rel_path = figure.relative_to(built)
    assert check(registry, built) == [f"{rel_path}: differs from the figure `lvrbench leaderboard build` draws "
                                      "(run `lvrbench leaderboard build`)"]


def test_every_kind_of_figure_is_drawn_to_the_same_bytes_again(tmp_path):
    """What lets `check` compare figures byte for byte: each drawer of the kit, twice, gives one file."""
    import numpy as np

    from lvrbench.kit import figures

    draws = {"grid": lambda p: figures.image_grid({"kind": "images", "shape": [2, 1, 2, 2], "data": "AAECAwQFBgc="}, p),
             "scatter": lambda p: figures.scatter({"kind": "points", "data": [[0.1, 0.2], [0.3, -0.4]]}, [[0, 0]], p, "t"),
             "heatmap": lambda p: figures.heatmap(np.array([[0.1, np.nan], [0.5, 0.9]]), ["a", "b"], ["c", "d"], p, "t",
                                                  "r", "c", (0.0, 1.0)),
             "lines": lambda p: figures.line_plot({"D": ([1, 2, 3], [0.5, 0.4, 0.3])}, p, "t", "x", "y"),
             "cost": lambda p: figures.quality_cost_plot({"drs": [(10.0, -1.0, -2.0, 0.5)]}, p, "t", "x", "y")}
    for name, draw in draws.items():
        draw(tmp_path / f"{name}-1.png")
        draw(tmp_path / f"{name}-2.png")
        assert (tmp_path / f"{name}-1.png").read_bytes() == (tmp_path / f"{name}-2.png").read_bytes(), name


def test_a_file_name_with_a_newline_is_one_line_of_check(registry, built, cli):
    (built / "results" / "recovery-real" / "a\nlvrbench: fake.json").write_text("{}")
    done = cli("leaderboard", "check", "--out", str(built))
    assert (done.returncode, done.stderr.splitlines()) == (1, [
        f"lvrbench: {built}/results/recovery-real/a\\nlvrbench: fake.json: schema must be 1; id must be 16 lower-case hex "
        "digits: the first of the SHA-256 of the config's canonical JSON; status must be one of ok, failed; config must be "
        "an object with keys task, profile, dataset, family, prior, method, hparams, seed, settings, code; provenance must "
        "be an object; metrics must be a non-empty object of estimates; extra must be an object; artifacts must be an "
        "object"])


# -- 4. a root named for a profile holds that profile only ------------------------------------------------------------

def test_quick_results_in_a_new_full_root_are_refused(registry, tmp_path, cli_here):
    repo = tmp_path / "repo"
    git(tmp_path, "init", "-q", str(repo))
    (repo / "README.md").write_text("x\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    root = repo / "leaderboards" / "full"
    result = ok_result()  # a quick-profile cell
    ResultStore(root).write(result)
    code, out, err = cli_here("leaderboard", "check", "--out", str(root), "--against", "HEAD")
    assert code == 1
    assert f"lvrbench: {root}/holds quick-profile results; a root named full/ holds full-profile results only: profiles " \
           "never mix\n" in err
    assert f"lvrbench: {root}/{rel(result)}: a quick-profile result; this root holds full results only\n" in err


# -- 6. I/O faults: one line naming the real path, before the work ----------------------------------------------------

def namespaced(script: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """`script` (sh) as root of a user and mount namespace of its own, where it may mount a read-only or a tiny file
    system; skipped where the kernel lends none."""
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("no user and mount namespaces here (unshare -rm): cannot make a read-only or full file system")
    env = {**os.environ, "LVRBENCH": f"{sys.executable} -m lvrbench"}
    return subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, timeout=timeout,
                          env=env, cwd=REPO)


RING = "--task mode-coverage --dataset ring8 --family vanilla"


@pytest.mark.parametrize("where", ["cache/generators", "lb/results/mode-coverage"])
def test_a_read_only_folder_a_run_writes_is_refused_before_any_work(tmp_path, where):
    (tmp_path / "cache" / "generators").mkdir(parents=True)
    (tmp_path / "lb" / "results" / "mode-coverage").mkdir(parents=True)
    folder = tmp_path / where
    done = namespaced(f"mount --bind {folder} {folder} && mount -o remount,bind,ro {folder} && "
                      f"$LVRBENCH run {RING} --out {tmp_path}/lb --cache-dir {tmp_path}/cache")
    option = "--cache-dir" if where.startswith("cache") else "--out"
    assert (done.returncode, done.stderr) == (2, f"lvrbench: error: {option} {folder}: cannot write there (Read-only file "
                                                 "system)\n")
    assert not list((tmp_path / "cache" / "generators").iterdir())  # nothing was trained
    assert not list((tmp_path / "lb" / "results" / "mode-coverage").iterdir())


def test_a_full_disk_is_refused_before_any_training(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    done = namespaced(f"mount -t tmpfs -o size=64k tmpfs {disk} && mkdir {disk}/generators && "
                      f"head -c 1000000 /dev/zero > {disk}/filler 2>/dev/null; "
                      f"$LVRBENCH run {RING} --out {tmp_path}/lb --cache-dir {disk}")
    assert (done.returncode, done.stderr) == (2, f"lvrbench: error: --cache-dir {disk}: cannot write there (No space left "
                                                 "on device)\n")
    assert not (tmp_path / "lb").exists()


def test_a_full_disk_during_build_names_the_roots_file(registry, built, tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    done = namespaced(f"mount -t tmpfs -o size=96k tmpfs {disk} && cp -r {built}/results {disk}/ && "
                      f"head -c 1000000 /dev/zero > {disk}/filler 2>/dev/null; "
                      f"$LVRBENCH leaderboard build --out {disk}")
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1, done.stderr
    assert re.fullmatch(rf"lvrbench: error: {re.escape(str(disk))}: images/recovery-real/[a-z0-9-]+\.png: cannot be written "
                        r"\(No space left on device\)\n", done.stderr), done.stderr


def test_a_refused_run_creates_neither_its_cache_nor_its_results(tmp_path, cli):
    (tmp_path / "lb" / "images").mkdir(parents=True)
    (tmp_path / "lb" / "images" / "mode-coverage").write_text("a file where figures go\n")
    cache = tmp_path / "new-cache"
    done = cli("run", *RING.split(), "--out", str(tmp_path / "lb"), "--cache-dir", str(cache), timeout=300)
    assert (done.returncode, done.stderr) == (2, f"lvrbench: error: {tmp_path}/lb/images/mode-coverage: not a directory\n")
    assert not cache.exists() and not (tmp_path / "lb" / "results").exists()


@pytest.mark.parametrize("kind", ["fifo", "device", "huge"])
def test_verify_reads_only_regular_files_of_bounded_size(tmp_path, cli_here, kind):
    path = {"fifo": tmp_path / "pipe", "device": Path("/dev/zero"), "huge": tmp_path / "huge.json"}[kind]
    if kind == "fifo":
        os.mkfifo(path)
    if kind == "huge":
        with open(path, "wb") as f:  # a sparse 1 GB file: no disk, but 1 GB to whoever reads it whole
            f.truncate(2**30)
    why = "not a regular file" if kind != "huge" else f"{2**30} bytes, more than the {64 * 2**20} a result may have"
    code, out, err = cli_here("verify", str(path))
    assert (code, out, err) == (2, "", f"lvrbench: error: {path}: not a readable result file ({why})\n")

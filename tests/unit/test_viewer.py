"""The viewer (`mechanic serve`, `mechanic report`) against a real SQLite file: the
index summary kept by triggers, every page over HTTP from a server on a free port,
hostile corpus text, read-only access beside a writer, the static report and the CLI."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner
from mechanic import store
from mechanic.agent.cli import cli
from mechanic.agent.viewer import viewer_services
from mechanic.web.server import Viewer, make_server
from mechanic.web.static import write_static
from support import serving
from synthetic_store import build_viewer_store


@pytest.fixture(scope="module")
def built(tmp_path_factory, subject):
    path = tmp_path_factory.mktemp("viewer") / "viewer.db"
    ids = build_viewer_store(path, lambda t: subject.tokenizer(t, add_special_tokens=False)["input_ids"],
                             n_features=40, window=64)
    return path, ids


@pytest.fixture(scope="module")
def server(built, subject):
    path, ids = built
    viewer = Viewer(path, viewer_services(subjects={"tiny:llama": subject}))
    httpd = make_server(viewer, port=0, quiet=True)
    for url in serving(httpd):
        yield url, ids


def get(url: str) -> tuple[int, str, dict]:
    try:
        with urllib.request.urlopen(url, timeout=60) as r:
            return r.status, r.read().decode(), dict(r.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), dict(exc.headers)


class _Tags(HTMLParser):
    """Tags with their attributes, and text by enclosing tag, as a browser's parser sees them."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data)


def parse(html: str) -> _Tags:
    p = _Tags()
    p.feed(html)
    return p


# ------------------------------------------------------------------ the summary


def test_summary_holds_each_features_best_explanation_and_follows_rescoring(built):
    path, ids = built
    db = store.open_db(path)
    fid = ids["features"][1]
    rows = {r["method"]: r for r in db.query("SELECT * FROM feature_summary WHERE feature_id = ?", [fid])}
    explained = [e for e in store.get_explanations(db, feature_id=fid, role="explanation") if e["status"] == "ok"]
    sims = {e["id"]: next(s["value"] for s in store.get_scores(db, e["id"]) if s["scorer"] == "simulation"
                          and s["split"] == "all") for e in explained}
    best = max(sims, key=sims.get)
    assert rows[""]["explanation_id"] == best and rows[""]["sim"] == pytest.approx(sims[best])
    assert rows[""]["floor_sim"] is not None and set(rows) >= {"", "tokens"}
    # a rescore that makes the other explanation best moves the summary with it
    other = next(e for e in sims if e != best)
    store.write_scores(db, other, 1, [{"scorer": "simulation", "split": "all", "metric": "pearson", "value": 0.99}])
    row = next(db.query("SELECT * FROM feature_summary WHERE feature_id = ? AND method = ''", [fid]))
    assert row["explanation_id"] == other and row["sim"] == pytest.approx(0.99)
    store.write_scores(db, other, 1, [{"scorer": "simulation", "split": "all", "metric": "pearson",
                                       "value": sims[other]}])
    # an unexplained feature has status none; a method that only failed has status failed
    statuses = {r[0] for r in db.execute("SELECT status FROM feature_summary WHERE method = ''")}
    assert statuses == {"ok", "none"}
    failed = list(db.query("SELECT * FROM feature_summary WHERE method = 'oneshot' AND status = 'failed'"))
    assert failed and all(r["sim"] is None and r["text"] is None for r in failed)
    db.conn.close()


def test_summary_page_sorts_filters_and_counts(built):
    path, _ = built
    db = store.open_readonly(path)
    model_id = store.summary_choices(db)["models"][0]["id"]
    rows, total = store.summary_page(db, model_id=model_id, sort="sim", descending=True, limit=100)
    assert total == 40 and len(rows) == 40
    sims = [r["sim"] for r in rows if r["sim"] is not None]
    assert sims == sorted(sims, reverse=True) and rows[-1]["sim"] is None  # unscored last
    ascending, _ = store.summary_page(db, model_id=model_id, sort="sim", limit=100)
    assert [r["sim"] for r in ascending[:len(sims)]] == sorted(sims) and ascending[-1]["sim"] is None
    across, _ = store.summary_page(db, model_id=model_id, sort="sim", limit=5, offset=len(sims) - 2)
    assert [r["sim"] is None for r in across] == [False, False, True, True, True]
    assert [r["feature_id"] for r in across] == [r["feature_id"] for r in ascending[len(sims) - 2:len(sims) + 3]]
    good, n_good = store.summary_page(db, model_id=model_id, sort="sim", at_least=0.5, limit=100)
    assert n_good == len([v for v in sims if v >= 0.5]) > 0 and all(r["sim"] >= 0.5 for r in good)
    layer1, n1 = store.summary_page(db, model_id=model_id, layer=1, limit=100)
    assert n1 == len(layer1) > 0 and {r["layer"] for r in layer1} == {1}
    page2, _ = store.summary_page(db, model_id=model_id, limit=10, offset=10)
    first, _ = store.summary_page(db, model_id=model_id, limit=20)
    assert [r["feature_id"] for r in page2] == [r["feature_id"] for r in first[10:]]
    hits, _ = store.summary_page(db, model_id=model_id, text="100%_")  # LIKE wildcards are literal
    assert hits == []
    with pytest.raises(ValueError):
        store.summary_page(db, model_id=model_id, sort="text; DROP TABLE features")
    db.conn.close()


def test_readonly_connection_cannot_write_and_sees_a_writers_rows(built):
    path, ids = built
    ro = store.open_readonly(path)
    with pytest.raises(Exception, match="readonly|read-only|attempt to write"):
        store.start_run(ro, "nothing", {})
    writer = store.open_db(path)
    fid = ids["features"][-1]
    eid = store.write_explanation(writer, feature_id=fid, run_id=1, method="agent", config_hash="w", text="late text")
    rows = {r["method"]: r for r in ro.query("SELECT * FROM feature_summary WHERE feature_id = ?", [fid])}
    assert rows["agent"]["explanation_id"] == eid
    writer.execute("DELETE FROM explanations WHERE id = ?", [eid])
    writer.conn.commit()
    assert "agent" not in {r[0] for r in ro.execute("SELECT method FROM feature_summary WHERE feature_id = ?", [fid])}
    ro.conn.close()
    writer.conn.close()
    with pytest.raises(FileNotFoundError):
        store.open_readonly(Path(path).with_name("missing.db"))


def test_semantic_search_ranks_pages_and_filters(built):
    from mechanic.web.services import SemanticIndex

    path, _ = built
    db = store.open_readonly(path)
    model_id = store.summary_choices(db)["models"][0]["id"]
    index = SemanticIndex(viewer_services().embed)
    full, total = index.search(db, model_id, "names of months", limit=1000)
    assert total == len(full) == len(store.summary_search_rows(db, model_id))
    sims = [s for _, s in full]
    assert sims == sorted(sims, reverse=True)
    page2, total2 = index.search(db, model_id, "names of months", limit=10, offset=10)
    assert page2 == full[10:20] and total2 == total
    some, n = index.search(db, model_id, "names of months", method="tokens", layer=1, limit=1000)
    layer_of = {r["feature_id"]: r["layer"] for r in store.summary_search_rows(db, model_id)}
    assert 0 < n < total and all(k[1] == "tokens" and layer_of[k[0]] == 1 for k, _ in some)
    db.conn.close()


# -------------------------------------------------------------------- pages


def test_index_pages_sort_filter_search_and_paginate(server):
    base, ids = server
    status, html, headers = get(base + "/")
    assert status == 200 and "default-src 'none'" in headers["Content-Security-Policy"]
    assert html.count("class='feature'") == 40
    status, html, _ = get(base + "/?sort=sim&desc=1")
    values = [float(v) for v in re.findall(r"class='num score-sim'><a [^>]*>(-?[0-9.]+)</a>", html)]
    assert len(values) > 20 and values == sorted(values, reverse=True)
    status, html, _ = get(base + "/?layer=2&method=tokens")
    assert status == 200 and html.count("class='feature'") == len(re.findall(r">mlp:2:\d+</a>", html)) > 0
    status, html, _ = get(base + "/?q=month")
    texts = re.findall(r"class='explanation'>([^<]*)</a>", html)
    assert texts and all("month" in t for t in texts)
    status, html, _ = get(base + "/?sq=names+of+the+months")
    first = re.findall(r"class='explanation'>([^<]*)</a>", html)[0]
    assert status == 200 and "month" in first  # the nearest explanation by meaning
    status, html, _ = get(base + "/?status=none")
    assert "not explained" in html and "rows · page 1 of 1" in html
    status, html, _ = get(base + "/?sort=detect&min=0.8&desc=1")
    values = [float(v) for v in re.findall(r"class='num score-detect'><a [^>]*>(-?[0-9.]+)</a>", html)]
    assert status == 200 and values and min(values) >= 0.8
    assert get(base + "/?sort=sim&min=high")[0] == 400
    status, _, _ = get(base + "/?page=0")
    assert status == 400
    status, _, _ = get(base + "/?sort=bogus")
    assert status == 400


def test_feature_page_heatmaps_scores_floors_and_overlay(server, built):
    base, ids = server
    fid = ids["features"][1]
    status, html, _ = get(base + f"/feature/{fid}")
    assert status == 200
    tags = parse(html)
    cells = [a for t, a in tags.tags if t == "span" and "data-act" in a]
    assert len(cells) > 100 and all(float(a["data-act"]) == pytest.approx(float(a["title"])) for a in cells[:50])
    assert "test split" in html and "train split" in html and "<svg" in html
    assert "random" in html and "control" in html  # the floors beside the explanations
    links = [a["href"] for t, a in tags.tags if t == "a" and "#score-sim" in a.get("href", "")]
    assert links
    status, row_html, _ = get(base + links[0].split("#")[0])
    assert status == 200 and "id='score-sim'" in row_html and "prompt_hash" in row_html and "run 2" in row_html
    assert "promotes" in html  # output-side tokens from the tiny model
    ro = store.open_readonly(built[0])
    eid = store.get_explanations(ro, feature_id=fid, method="tokens")[0]["id"]
    ro.conn.close()
    status, html, _ = get(base + f"/feature/{fid}?sim={eid}")
    overlay = [a for t, a in parse(html).tags if t == "span" and "data-sim" in a]
    assert status == 200 and overlay and "computed now by" in html


def test_investigation_question_bench_run_and_compare_pages(server):
    base, ids = server
    status, html, _ = get(base + f"/agent/{ids['investigations'][1]}")
    assert status == 200 and "Hypotheses" in html and "supported" in html and "refuted" in html
    steps = [int(s) for s in re.findall(r"<h3>step (\d+):", html)]
    assert steps == [0, 1, 2] and "rejected: value out of range" in html
    assert f"/feature/{ids['features'][1]}" in html
    status, html, _ = get(base + f"/agent/{ids['ask']}")
    assert status == 200 and "which features relate to months?" in html and "Answer" in html
    assert re.search(r"href='#exp-\d+'>experiment \d+</a>", html)
    status, html, _ = get(base + "/agents")
    assert status == 200 and html.count("/agent/") >= 4
    a, b = ids["bench_runs"]
    status, html, _ = get(base + f"/bench/{a}")
    assert status == 200 and "Scorer validity" in html and "<svg" in html and "truth_embedding" in html
    status, html, _ = get(base + f"/bench/{a}?suite=rules&method=tokens&metric=sim")
    assert status == 200 and html.count("/feature/") >= 10
    status, html, _ = get(base + f"/compare?a={a}&b={b}")
    assert status == 200 and "B − A" in html and "oneshot" in html
    assert get(base + "/feature/999999")[0] == 404 and get(base + "/nowhere")[0] == 404
    assert get(base + "/feature/abc")[0] == 400


def test_hostile_corpus_text_renders_as_text_on_every_page(server):
    base, ids = server
    fid = ids["hostile_window_feature"]
    pages = ["/", "/?q=script", f"/feature/{fid}", f"/explanation/{ids['hostile_explanation']}",
             f"/agent/{ids['investigations'][0]}", f"/agent/{ids['ask']}", "/agents"]
    for path in pages:
        status, html, _ = get(base + path)
        assert status == 200, path
        assert "<script>alert(1)" not in html and '" onmouseover="x' not in html, path
        tags = parse(html)
        assert all("onmouseover" not in a for _, a in tags.tags), path  # no attribute was broken out of
        assert [t for t, _ in tags.tags].count("script") == 1, path  # only the page's own script
        assert all("alert" not in s for s in tags.scripts), path
    _, html, _ = get(base + f"/explanation/{ids['hostile_explanation']}")
    assert "&lt;script&gt;alert(1)&lt;/script&gt; and &quot; onmouseover=&quot;x" in html
    _, html, _ = get(base + f"/feature/{fid}")  # the window's tokens: each piece escaped in its span
    window = re.search(r"<div class='ex' data-window='0'>(.*?)</div>", html).group(1)
    text = "".join(re.findall(r"data-act='[^']*'>([^<]*)</span>", window))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "&quot; onmouseover=&quot;x" in text


# ------------------------------------------------------------ static report, CLI


def test_static_report_pages_link_to_each_other_and_load_nothing_remote(built, subject, tmp_path):
    path, ids = built
    counts = write_static(path, tmp_path, Viewer(path, viewer_services(subjects={"tiny:llama": subject},
                                                                      semantic=False, simulate=False)))
    assert counts["feature"] == 40 and counts["agent"] == 4 and counts["compare"] == 1
    names = {p.name for p in tmp_path.iterdir()}
    assert {"index.html", "index-sim.html", "bench.html", "agents.html"} <= names
    for page in tmp_path.iterdir():
        tags = parse(page.read_text())
        for tag, attrs in tags.tags:
            for key in ("href", "src"):
                target = attrs.get(key)
                if not target or target.startswith("#"):
                    continue
                assert not re.match(r"^[a-z]+:|^//", target), (page.name, target)  # nothing remote, no server path
                assert target.split("#")[0] in names, (page.name, target)
    html = (tmp_path / f"feature-{ids['hostile_window_feature']}.html").read_text()
    assert "<script>alert(1)" not in html and "data-act=" in html


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_mechanic_serve_and_report_commands(built, tmp_path):
    path, _ = built
    port = free_port()
    mechanic = Path(sys.executable).with_name("mechanic")
    proc = subprocess.Popen([str(mechanic), "--db", str(path), "serve", "--port", str(port), "--no-semantic"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(300):
            try:
                status, html, _ = get(f"http://127.0.0.1:{port}/")
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode()
                time.sleep(0.1)
        assert status == 200 and "Features of tiny:llama" in html
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    runner = CliRunner()
    out = tmp_path / "report"
    result = runner.invoke(cli, ["--db", str(path), "report", "--out", str(out), "--limit", "5"])
    assert result.exit_code == 0, result.output
    assert (out / "index.html").is_file() and len(list(out.glob("feature-*.html"))) == 5
    missing = runner.invoke(cli, ["report", "--db", str(tmp_path / "none.db"), "--out", str(out)])
    assert missing.exit_code != 0 and "no database at" in missing.output and "Traceback" not in missing.output
    missing = runner.invoke(cli, ["serve", "--db", str(tmp_path / "none.db")])
    assert missing.exit_code != 0 and "no database at" in missing.output
    (tmp_path / "junk.db").write_text("not sqlite at all " * 100)
    junk = runner.invoke(cli, ["serve", "--db", str(tmp_path / "junk.db")])
    assert junk.exit_code != 0 and "is not a mechanic database" in junk.output and "Traceback" not in junk.output

"""The index: every feature of a model with its best explanation and headline scores,
sorted, filtered, searched by keyword or by meaning, a page at a time."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mechanic import store

from .html import Site, esc, linked_num, page, table
from .services import SemanticIndex

__all__ = ["BadQuery", "IndexQuery", "render_index", "PAGE_SIZE", "SCORE_COLUMNS"]

PAGE_SIZE = 50
SCORE_COLUMNS = ("sim", "sim_top", "detect", "fuzz", "topic", "causal")
STATUSES = ("ok", "failed", "none")


class BadQuery(ValueError):
    """A query parameter the index cannot use (the server answers 400)."""


@dataclass(frozen=True)
class IndexQuery:
    model: int | None = None
    method: str = ""
    kind: str | None = None
    layer: int | None = None
    status: str | None = None
    q: str = ""  # keyword
    sq: str = ""  # semantic
    sort: str = "feature"
    desc: bool = False
    at_least: float | None = None  # the sort column's minimum
    page: int = 1

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> "IndexQuery":
        def integer(name: str, low: int | None = None) -> int | None:
            text = params.get(name, "").strip()
            if not text:
                return None
            try:
                value = int(text)
            except ValueError:
                raise BadQuery(f"{name} must be a whole number, got {text!r}") from None
            if low is not None and value < low:
                raise BadQuery(f"{name} must be at least {low}")
            return value

        sort = params.get("sort", "feature") or "feature"
        if sort not in store.SORTS:
            raise BadQuery(f"sort must be one of {', '.join(store.SORTS)}")
        status = params.get("status") or None
        if status is not None and status not in STATUSES:
            raise BadQuery(f"status must be one of {', '.join(STATUSES)}")
        at_least = params.get("min", "").strip()
        try:
            minimum = float(at_least) if at_least else None
        except ValueError:
            raise BadQuery(f"min must be a number, got {at_least!r}") from None
        return cls(model=integer("model"), method=params.get("method", ""), kind=params.get("kind") or None,
                   layer=integer("layer"), status=status, q=params.get("q", "").strip(),
                   sq=params.get("sq", "").strip(), sort=sort, desc=params.get("desc", "") in ("1", "true"),
                   at_least=minimum,
                   page=integer("page", 1) or 1)

    def params(self, **changes) -> dict:
        values = {"model": self.model, "method": self.method, "kind": self.kind, "layer": self.layer,
                  "status": self.status, "q": self.q, "sq": self.sq, "sort": self.sort,
                  "desc": "1" if self.desc else "", "min": self.at_least, "page": self.page}
        values.update(changes)
        if values.get("sort") == "feature":
            values["sort"] = None
        if values.get("page") == 1:
            values["page"] = None
        return values


def _form(site: Site, query: IndexQuery, choices: dict, model_id: int) -> str:
    if site.static:
        return ""

    def select(name: str, options: list[tuple[str, str]], current) -> str:
        chosen = "" if current is None else str(current)
        opts = "".join(f"<option value='{esc(v)}'{' selected' if chosen == v else ''}>{esc(label)}</option>"
                       for v, label in options)
        return f"<label>{esc(name)} <select name='{esc(name)}'>{opts}</select></label>"

    models = [(str(m["id"]), f"{m['name']} ({m['features']:,})") for m in choices["models"]]
    methods = [("", "best of all")] + [(m, m) for m in choices["methods"].get(model_id, [])]
    kinds = sorted({k for k, _ in choices["layers"].get(model_id, [])})
    layers = sorted({str(v) for _, v in choices["layers"].get(model_id, []) if v is not None}, key=int)
    return ("<form class='filters' method='get' action='/'>"
            + (select("model", models, model_id) if len(models) > 1 else "")
            + select("method", methods, query.method)
            + select("kind", [("", "any")] + [(k, k) for k in kinds], query.kind)
            + select("layer", [("", "any")] + [(v, v) for v in layers], query.layer)
            + select("status", [("", "any")] + [(s, s) for s in STATUSES], query.status)
            + select("sort", [(s, s) for s in store.SORTS], query.sort)
            + f"<label><input type='checkbox' name='desc' value='1'{' checked' if query.desc else ''}> descending</label>"
            + f"<label>at least <input type='number' step='any' name='min' value='{esc(query.at_least)}' "
              "style='width:5em' title='minimum of the sort column'></label>"
            + f"<br><input type='search' name='q' value='{esc(query.q)}' placeholder='keyword in explanations' "
              "id='keyword'>"
            + f"<input type='search' name='sq' value='{esc(query.sq)}' placeholder='semantic search' id='semantic'>"
            + "<button type='submit' id='go'>show</button></form>")


def _rows_html(site: Site, rows: list[dict], similarity: dict | None) -> str:
    header = ["feature", "method", "explanation", *SCORE_COLUMNS, "floor", "n"]
    if similarity is not None:
        header.insert(0, "similarity")
    cells, classes = [], []
    for r in rows:
        feature = f"<a href='{esc(site.href('feature', r['feature_id']))}' class='feature'>{esc(r['feature'])}</a>"
        expl_href = site.href("explanation", r["explanation_id"]) if r["explanation_id"] else None
        text = ("<span class='meta'>not explained</span>" if r["status"] == "none" else
                "<span class='failed'>failed</span>" if r["status"] == "failed" else esc(r["text"]))
        if expl_href:
            text = f"<a href='{esc(expl_href)}' class='explanation'>{text}</a>"
        row = [feature, esc(r["method"] if r["method"] else "")] + [text]
        for col in SCORE_COLUMNS:
            href = site.href("explanation", r["explanation_id"], anchor=f"score-{col}") if expl_href else None
            row.append((linked_num(r[col], href if r[col] is not None else None), f"num score-{col}"))
        floor_href = site.href("feature", r["feature_id"]) if r["floor_sim"] is not None else None
        row.append((linked_num(r["floor_sim"], floor_href, title="the controls are listed on the feature's page"),
                    "num"))
        row.append((esc(r["n_explanations"]), "num"))
        if similarity is not None:
            row.insert(0, (f"{similarity[(r['feature_id'], r['method'])]:.3f}", "num"))
        cells.append(row)
        classes.append("failed" if r["status"] == "failed" else "")
    return table(header, cells, classes)


def _pager(site: Site, query: IndexQuery, total: int) -> str:
    pages = max(1, -(-total // PAGE_SIZE))
    parts = [f"<span>{total:,} rows · page {query.page} of {pages:,}</span>"]
    for label, number in (("first", 1), ("previous", query.page - 1), ("next", query.page + 1), ("last", pages)):
        if 1 <= number <= pages and number != query.page:
            parts.append(f"<a href='{esc(site.href('index', **query.params(page=number)))}' rel='{label}'>{label}</a>")
    return f"<p class='pager'>{' '.join(parts)}</p>"


def render_index(db, site: Site, query: IndexQuery, semantic: SemanticIndex | None, choices: dict) -> str:
    """The index page for ``query`` (``choices`` from ``store.summary_choices``, cached by the caller)."""
    models = choices["models"]
    if not models:
        return page(site, "mechanic viewer", "<p>This database has no features yet: run <code>mechanic cache</code>"
                    " or <code>mechanic label</code> first.</p>")
    model_id = query.model if query.model is not None else max(models, key=lambda m: m["features"])["id"]
    model = next((m for m in models if m["id"] == model_id), None)
    if model is None:
        raise BadQuery(f"no model with id {model_id}")
    offset = (query.page - 1) * PAGE_SIZE
    similarity = None
    note = ""
    if query.sq:
        if semantic is None:
            note = "<p class='failed'>Semantic search needs the sentence encoder, which is not available here.</p>"
            rows, total = [], 0
        else:
            window, total = semantic.search(db, model_id, query.sq, method=query.method, kind=query.kind,
                                            layer=query.layer, status=query.status, limit=PAGE_SIZE, offset=offset)
            similarity = dict(window)
            rows = store.summary_rows(db, [k for k, _ in window])
            note = ("<p class='meta'>ranked by cosine between the query and each method's explanation "
                    "(all-MiniLM-L6-v2 sentence embeddings)</p>")
    else:
        rows, total = store.summary_page(db, model_id=model_id, method=query.method, kind=query.kind,
                                         layer=query.layer, status=query.status, text=query.q or None,
                                         sort=query.sort, descending=query.desc, at_least=query.at_least,
                                         limit=PAGE_SIZE, offset=offset)
    title = f"Features of {model['name']}"
    sorts = " ".join(
        f"<a href='{esc(site.href('index', **query.params(sort=s, desc='1' if s != 'feature' else '', page=1)))}'>"
        f"{esc(s)}</a>" for s in (("feature", "sim") if site.static else store.SORTS))
    body = (_form(site, query, choices, model_id) + note
            + f"<p class='meta'>sort by: {sorts}. Scores are held-out (test split); floor is the best control's sim. "
              "Each number links to the row it came from.</p>"
            + _pager(site, query, total) + _rows_html(site, rows, similarity) + _pager(site, query, total))
    return page(site, title, body)

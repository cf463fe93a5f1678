"""Read vocabularies: SKOS (Turtle, RDF/XML, JSON-LD, N-Triples via rdflib), IPTC's JSON,
and a plain CSV/TSV (`id,label,aliases,broader,retired,replaced_by`)."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tagger.vocab.model import Concept, VocabError, Vocabulary

SKOS = "http://www.w3.org/2004/02/skos/core#"
WIKIDATA = "http://www.wikidata.org/entity/"
SUBJECT_CODES = "http://cv.iptc.org/newscodes/subjectcode/"
FORMATS = ("auto", "turtle", "xml", "json-ld", "nt", "iptc-json", "csv", "tsv")
_SUFFIXES = {
    ".ttl": "turtle",
    ".turtle": "turtle",
    ".n3": "turtle",
    ".rdf": "xml",
    ".owl": "xml",
    ".xml": "xml",
    ".jsonld": "json-ld",
    ".nt": "nt",
    ".csv": "csv",
    ".tsv": "tsv",
    ".txt": "tsv",
}
# "Use medtop:20000168 emergency response instead", "merged into concept medtop:20000139"
_REPLACEMENT_NOTE = re.compile(r"\b(?:use|merged into(?: concept)?)\b", re.IGNORECASE)
_QCODE = re.compile(r"\b([a-z][a-z0-9-]*):(?:[a-z][a-z0-9-]*:)?(\d{8})\b")


def detect_format(path: Path, data: bytes) -> str:
    suffix = path.suffix.lower()
    if suffix == ".gz":
        suffix = Path(path.stem).suffix.lower()
    if suffix == ".json":
        head = data.lstrip()[:1]
        if head == b"{" and b'"conceptSet"' in data:
            return "iptc-json"
        return "json-ld"
    if suffix in _SUFFIXES:
        return _SUFFIXES[suffix]
    raise VocabError(
        f"{path}: cannot tell the vocabulary format from the name; give --input-format (-f) "
        f"({', '.join(FORMATS[1:])})"
    )


def read_vocabulary_files(paths: Sequence[Path], fmt: str = "auto", lang: str = "en") -> Vocabulary:
    """One vocabulary from several files (a concept in two files is merged by id),
    checked as a whole. Raises VocabError with one line naming the file."""
    vocab = Vocabulary()
    sources = []
    for path in paths:
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise VocabError(f"{path}: cannot read ({exc.strerror or exc})") from exc
        if path.suffix == ".gz":
            import gzip

            try:
                data = gzip.decompress(data)
            except (OSError, EOFError) as exc:
                raise VocabError(f"{path}: not a valid gzip file ({exc})") from exc
        kind = detect_format(path, data) if fmt == "auto" else fmt
        if kind == "iptc-json":
            part = read_iptc_json(path, data, lang)
        elif kind in ("csv", "tsv"):
            part = read_table(path, data, kind)
        else:
            part = read_skos(path, data, kind, lang)
        for concept in part.concepts.values():
            if concept.id in vocab.concepts:
                vocab.concepts[concept.id].merge(concept)
            else:
                vocab.concepts[concept.id] = concept
        for key, value in part.meta.items():
            vocab.meta.setdefault(key, value)
        sources.append({"file": path.name, "format": kind, "concepts": len(part.concepts)})
    if not vocab.concepts:
        raise VocabError(f"{', '.join(map(str, paths))}: no concept found")
    vocab.meta["sources"] = sources
    vocab.finish(", ".join(str(p) for p in paths))
    return vocab


# -- shared helpers ---------------------------------------------------------------------


def _canonical_uri(uri: str) -> str:
    """One spelling for the same external id (Wikidata is served over http and https)."""
    if "wikidata.org/entity/" in uri or "wikidata.org/wiki/" in uri:
        return WIKIDATA + uri.rstrip("/").rsplit("/", 1)[-1]
    return uri


def _replacement_from_note(note: str | None, own_id: str, prefix: str | None) -> str | None:
    """The one concept a retirement note tells to use instead, when it names exactly one."""
    if not note or not _REPLACEMENT_NOTE.search(note):
        return None
    codes = {f"{p}:{code}" for p, code in _QCODE.findall(note) if prefix is None or p == prefix}
    codes.discard(own_id)
    return codes.pop() if len(codes) == 1 else None


def _pick(values: dict[str, str] | list[tuple[str | None, str]], lang: str) -> str | None:
    """The value in `lang` (a prefix match: 'en' takes 'en-GB'), else untagged, else any."""
    items = list(values.items()) if isinstance(values, dict) else list(values)
    if not items:
        return None
    for want in (lambda tag: tag and tag.lower() == lang.lower(),
                 lambda tag: tag and tag.lower().split("-")[0] == lang.lower().split("-")[0],
                 lambda tag: not tag):  # fmt: skip
        for tag, value in sorted(items, key=lambda kv: (kv[0] or "", kv[1])):
            if want(tag):
                return value
    return sorted(items, key=lambda kv: (kv[0] or "", kv[1]))[0][1]


def _in_lang(items: list[tuple[str | None, str]], lang: str) -> list[str]:
    base = lang.lower().split("-")[0]
    return sorted({v for tag, v in items if not tag or tag.lower().split("-")[0] == base})


# -- IPTC JSON --------------------------------------------------------------------------


def read_iptc_json(path: Path, data: bytes, lang: str = "en") -> Vocabulary:
    """IPTC's CV-server JSON ('IKOS'): a scheme object with a `conceptSet`."""
    doc = _load_json(path, data)
    if not isinstance(doc, dict) or not isinstance(doc.get("conceptSet"), list):
        raise VocabError(f"{path}: not IPTC JSON (no 'conceptSet' list)")
    prefix = doc.get("prefSchemeAlias")
    by_ref: dict[str, str] = {}
    raw = []
    for n, item in enumerate(doc["conceptSet"], 1):
        if not isinstance(item, dict):
            raise VocabError(f"{path}: conceptSet entry {n} is not an object")
        cid = item.get("qcode") or item.get("uri")
        if not cid:
            raise VocabError(f"{path}: conceptSet entry {n} has neither 'qcode' nor 'uri'")
        by_ref[cid] = cid
        if item.get("uri"):
            by_ref[item["uri"]] = cid
        raw.append((cid, item))
    tops = {by_ref.get(t, t) for t in doc.get("hasTopConcept", []) if isinstance(t, str)}
    vocab = Vocabulary(
        meta={
            "scheme": doc.get("uri"),
            "name": _pick(doc.get("prefLabel") or {}, lang) or prefix,
            "prefix": prefix,
            "release": doc.get("dateReleased"),
            "licence": doc.get("licenceLink"),
            "rights": doc.get("copyrightHolder"),
        }
    )

    def refs(item: dict[str, Any], key: str) -> list[str]:
        value = item.get(key) or []
        return [by_ref.get(v, v) for v in ([value] if isinstance(value, str) else value)]

    def text(item: dict[str, Any], key: str) -> str | None:
        value = item.get(key)
        if isinstance(value, dict):
            return _pick(value, lang)
        return value if isinstance(value, str) else None

    def texts(item: dict[str, Any], key: str) -> list[str]:
        value = item.get(key) or {}
        if isinstance(value, dict):
            pairs = [
                (t, v) for t, vs in value.items() for v in ([vs] if isinstance(vs, str) else vs)
            ]
            return _in_lang(pairs, lang)
        return []

    for cid, item in raw:
        uris = lambda key, item=item: [_canonical_uri(u) for u in refs(item, key)]  # noqa: E731
        note = text(item, "changeNote")
        concept = Concept(
            id=cid,
            uri=item.get("uri"),
            label=text(item, "prefLabel") or "",
            alt_labels=texts(item, "altLabel"),
            hidden_labels=texts(item, "hiddenLabel"),
            definition=text(item, "definition"),
            broader=refs(item, "broader"),
            narrower=refs(item, "narrower"),
            related=refs(item, "related"),
            exact_match=uris("exactMatch"),
            close_match=uris("closeMatch"),
            broad_match=uris("broadMatch"),
            retired=item.get("retired"),
            top=cid in tops,
            note=note,
        )
        replaced = refs(item, "isReplacedBy")
        concept.replaced_by = replaced[0] if len(replaced) == 1 else None
        if concept.retired and not concept.replaced_by:
            concept.replaced_by = _replacement_from_note(note, cid, prefix)
        vocab.concepts[cid] = concept
    return vocab


def _load_json(path: Path, data: bytes) -> Any:
    try:
        return json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise VocabError(f"{path}: not UTF-8 text (byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise VocabError(
            f"{path}: line {exc.lineno}, column {exc.colno}: malformed JSON ({exc.msg})"
        ) from exc


# -- SKOS via rdflib --------------------------------------------------------------------


def read_skos(path: Path, data: bytes, fmt: str, lang: str = "en") -> Vocabulary:
    """SKOS concepts of an RDF graph; ids are qcodes where the file binds a prefix for
    the concept's namespace ('medtop:20000002'), else URIs."""
    import rdflib
    from rdflib.namespace import DCTERMS, RDF

    if fmt == "json-ld":
        _load_json(path, data)  # line and column of a JSON error, before rdflib sees it
    graph = rdflib.Graph(bind_namespaces="none")
    try:
        graph.parse(data=data, format=fmt, publicID=path.resolve().as_uri())
    except SyntaxError as exc:  # rdflib's BadSyntax (Turtle, N-Triples)
        raise VocabError(f"{path}: {_syntax_position(exc)}malformed {fmt}: {_why(exc)}") from exc
    except Exception as exc:  # SAXParseException (RDF/XML), rdflib's ParserError, ...
        line = getattr(exc, "getLineNumber", None)
        where = f"line {line()}, column {exc.getColumnNumber()}: " if line else ""  # type: ignore[attr-defined]
        message = exc.getMessage() if hasattr(exc, "getMessage") else str(exc)  # type: ignore[attr-defined]
        message = message.splitlines()[0][:200] if message else message  # may quote a whole line
        raise VocabError(f"{path}: {where}malformed {fmt}: {message}") from exc

    skos = rdflib.Namespace(SKOS)
    prefixes = {str(ns): prefix for prefix, ns in graph.namespaces() if prefix}

    def concept_id(node: Any) -> str:
        uri = str(node)
        for ns in sorted(prefixes, key=len, reverse=True):
            local = uri[len(ns) :]
            if uri.startswith(ns) and local and "/" not in local and "#" not in local:
                return f"{prefixes[ns]}:{local}"
        return uri

    concept_nodes = sorted(set(graph.subjects(RDF.type, skos.Concept)), key=str)
    ids = {node: concept_id(node) for node in concept_nodes}
    schemes = list(graph.subjects(RDF.type, skos.ConceptScheme))
    tops = {ids.get(t, str(t)) for s in schemes for t in graph.objects(s, skos.hasTopConcept)}
    tops |= {ids.get(c, str(c)) for c in graph.subjects(skos.topConceptOf, None)}
    meta: dict[str, Any] = {}
    if schemes:
        scheme = schemes[0]
        meta["scheme"] = str(scheme)
        meta["name"] = _pick(_lang_pairs(graph, scheme, skos.prefLabel), lang)
        for pred, obj in graph.predicate_objects(scheme):
            name = str(pred).rsplit("/", 1)[-1].rsplit("#", 1)[-1]
            if name in ("dateReleased", "versionInfo") or (
                name == "modified" and "release" not in meta
            ):
                meta["release"] = str(obj)
            elif name == "prefSchemeAlias":
                meta["prefix"] = str(obj)
    vocab = Vocabulary(meta=meta)
    retired_pred = [p for p in set(graph.predicates()) if str(p).endswith(("/retired", "#retired"))]
    for node in concept_nodes:
        cid = ids[node]

        def refs(pred: Any, node: Any = node) -> list[str]:
            return sorted({ids.get(o, str(o)) for o in graph.objects(node, pred)})

        def uris(pred: Any, node: Any = node) -> list[str]:
            return sorted({_canonical_uri(str(o)) for o in graph.objects(node, pred)})

        notes = _lang_pairs(graph, node, skos.changeNote)
        note = _pick(notes, lang) if notes else None
        retired = next((str(o) for p in retired_pred for o in graph.objects(node, p)), None)
        replaced = refs(DCTERMS.isReplacedBy)
        concept = Concept(
            id=cid,
            uri=str(node),
            label=_pick(_lang_pairs(graph, node, skos.prefLabel), lang) or "",
            alt_labels=_in_lang(_lang_pairs(graph, node, skos.altLabel), lang),
            hidden_labels=_in_lang(_lang_pairs(graph, node, skos.hiddenLabel), lang),
            definition=_pick(_lang_pairs(graph, node, skos.definition), lang),
            broader=refs(skos.broader),
            narrower=refs(skos.narrower),
            related=refs(skos.related),
            exact_match=uris(skos.exactMatch),
            close_match=uris(skos.closeMatch),
            broad_match=uris(skos.broadMatch),
            retired=retired,
            replaced_by=replaced[0] if len(replaced) == 1 else None,
            top=cid in tops,
            note=note,
        )
        if concept.retired and not concept.replaced_by:
            concept.replaced_by = _replacement_from_note(note, cid, meta.get("prefix"))
        vocab.concepts[cid] = concept
    return vocab


def _lang_pairs(graph: Any, node: Any, pred: Any) -> list[tuple[str | None, str]]:
    return [(getattr(o, "language", None), str(o)) for o in graph.objects(node, pred)]


def _syntax_position(exc: SyntaxError) -> str:
    text, index = getattr(exc, "_str", None), getattr(exc, "_i", None)
    if isinstance(text, bytes | str) and isinstance(index, int):
        newline = b"\n" if isinstance(text, bytes) else "\n"
        line = text.count(newline, 0, index) + 1  # type: ignore[arg-type]
        column = index - text.rfind(newline, 0, index)  # type: ignore[arg-type]
        return f"line {line}, column {column}: "
    lines = getattr(exc, "lines", None)
    return f"line {lines + 1}: " if isinstance(lines, int) else ""


def _why(exc: SyntaxError) -> str:
    why = getattr(exc, "_why", None)
    return str(why) if why else str(exc).splitlines()[-1][:200]


# -- CSV / TSV --------------------------------------------------------------------------

TABLE_COLUMNS = ("id", "label", "aliases", "broader", "retired", "replaced_by")
_OPTIONAL_COLUMNS = ("uri", "definition", "hidden", "related", "wikidata")


def read_table(path: Path, data: bytes, kind: str) -> Vocabulary:
    """A header row with `id,label` and any of `aliases,broader,retired,replaced_by,uri,
    definition,hidden,related,wikidata`; list cells are split on '|' (or ';')."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise VocabError(f"{path}: not UTF-8 text (byte {exc.start})") from exc
    delimiter = "\t" if kind == "tsv" else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    header = [h.strip().lower() for h in reader.fieldnames or []]
    if "id" not in header and "label" not in header:
        raise VocabError(f"{path}: line 1: the header needs an 'id' or 'label' column")
    unknown = [h for h in header if h and h not in TABLE_COLUMNS + _OPTIONAL_COLUMNS]
    if unknown:
        raise VocabError(f"{path}: line 1: unknown column(s) {', '.join(unknown)}")
    reader.fieldnames = header
    vocab = Vocabulary(meta={"name": path.stem})
    rows = []
    for row in reader:
        line = reader.line_num
        if None in row:
            raise VocabError(f"{path}: line {line}: more cells than columns")
        cells = {k: (v or "").strip() for k, v in row.items() if k}
        if not any(cells.values()):
            continue
        label = cells.get("label", "")
        cid = cells.get("id") or label
        if not cid:
            raise VocabError(f"{path}: line {line}: a row with neither id nor label")
        # A row without a label may add aliases to a concept of another file (by id);
        # the whole vocabulary is checked for labels once every file is read.
        if cid in vocab.concepts:
            raise VocabError(f"{path}: line {line}: concept id {cid} appears twice")
        concept = Concept(
            id=cid,
            label=label,
            uri=cells.get("uri") or None,
            alt_labels=_split(cells.get("aliases", "")),
            hidden_labels=_split(cells.get("hidden", "")),
            definition=cells.get("definition") or None,
            related=_split(cells.get("related", "")),
            exact_match=[WIKIDATA + q for q in _split(cells.get("wikidata", ""))],
            retired=cells.get("retired") or None,
            replaced_by=cells.get("replaced_by") or None,
        )
        rows.append((concept, _split(cells.get("broader", ""))))
        vocab.concepts[cid] = concept
    # `broader` may name a parent by id or by label.
    by_label = {c.label: c.id for c in vocab.concepts.values()}
    for concept, parents in rows:
        for parent in parents:
            # A parent outside this file may come from another file of the import.
            concept.broader.append(
                parent if parent in vocab.concepts else by_label.get(parent, parent)
            )
        if concept.replaced_by and concept.replaced_by not in vocab.concepts:
            rid = by_label.get(concept.replaced_by)
            if rid:
                concept.replaced_by = rid
    return vocab


def _split(cell: str) -> list[str]:
    sep = "|" if "|" in cell else ";"
    return [part.strip() for part in cell.split(sep) if part.strip()]

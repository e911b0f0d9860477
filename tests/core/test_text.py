from server.core.text import find_spans, fold, initials, preview


def test_fold_ignores_case_and_accents() -> None:
    assert fold("AÇÃO Pérez Ñandú") == fold("acao perez nandu")
    assert fold("Straße") == "strasse"


def test_find_spans_maps_back_to_the_original_text() -> None:
    text = "Quero saber da promoção. PROMOÇÃO boa!"
    spans = find_spans(text, "promocao")
    assert [text[a:b] for a, b in spans] == ["promoção", "PROMOÇÃO"]


def test_find_spans_with_accented_query_and_length_changing_folds() -> None:
    text = "Die Straße, die strasse"
    assert [text[a:b] for a, b in find_spans(text, "STRASSE")] == ["Straße", "strasse"]
    assert find_spans("café", "CAFÉ") == [(0, 4)]


def test_blank_query_finds_nothing() -> None:
    assert find_spans("anything", "   ") == []


def test_initials() -> None:
    assert initials("María José Pérez") == "MP"
    assert initials("ana") == "A"
    assert initials("  ") is None
    assert initials("+55 11") is None


def test_preview_is_one_short_line() -> None:
    assert preview("a\n\n b\tc") == "a b c"
    long = preview("x" * 500)
    assert len(long) == 80 and long.endswith("…")

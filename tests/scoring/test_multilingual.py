"""Spanish and Portuguese indicators, language identification, obfuscation folding, prices and places."""

from __future__ import annotations

import pytest

from scoring.langid import LanguageDetector, supported_languages
from scoring.normalize import fold_obfuscation, normalize_text
from scoring.rules import RuleEngine

from .conftest import INDICATORS_DIR

# (lang, ad type, text, category, evidence span): one positive per category and language
POSITIVES = [
    ("es", "job", "Se cobra una cuota de inscripción de 100 dólares.", "recruitment_fee", "cuota de inscripción"),
    ("es", "job", "Envíe copia de su pasaporte por correo.", "document_request", "copia de su pasaporte"),
    ("es", "job", "Pasaje aéreo incluido para todos.", "travel_provided", "Pasaje aéreo incluido"),
    ("es", "job", "Ofrecemos alojamiento a los trabajadores.", "housing_provided", "Ofrecemos alojamiento"),
    ("es", "job", "Gana hasta 3000 euros al mes.", "unrealistic_pay", "Gana hasta"),
    ("es", "job", "Puesto sin experiencia, empiece ya.", "no_requirements", "sin experiencia"),
    ("es", "job", "Contacto por WhatsApp.", "messaging_contact", "WhatsApp"),
    ("es", "job", "Trabajo en el extranjero para jóvenes.", "work_abroad", "en el extranjero"),
    ("es", "job", "Se buscan chicas guapas y delgadas.", "appearance_requirement", "guapas y delgadas"),
    ("es", "job", "Plazas limitadas, llame hoy.", "urgency", "Plazas limitadas"),
    ("es", "job", "El pasaje se descuenta de su sueldo.", "debt_advance", "se descuenta de su sueldo"),
    ("es", "job", "Importante empresa contrata vendedores.", "vague_employer", "Importante empresa"),
    ("es", "escort", "Jovencita muy cariñosa te espera.", "youth", "Jovencita"),
    ("es", "escort", "Recién llegada, muy dulce.", "new_in_town", "Recién llegada"),
    ("es", "escort", "Pregunta por Ana en recepción.", "third_party", "Pregunta por"),
    ("es", "escort", "Tenemos dos chicas para ti.", "multiple_providers", "dos chicas"),
    ("es", "escort", "Atiendo solo en piso propio.", "restricted_movement", "solo en piso propio"),
    ("es", "escort", "Morena venezolana y cariñosa.", "foreign_origin", "venezolana"),
    ("es", "escort", "Servicio sin condón disponible.", "risky_services", "sin condón"),
    ("es", "escort", "Precios económicos toda la semana.", "low_price", "Precios económicos"),
    ("pt", "job", "Há uma taxa de inscrição de 100 reais.", "recruitment_fee", "taxa de inscrição"),
    ("pt", "job", "Envie cópia do passaporte pelo e-mail.", "document_request", "cópia do passaporte"),
    ("pt", "job", "Passagem aérea paga pela agência.", "travel_provided", "Passagem aérea paga"),
    ("pt", "job", "Oferecemos moradia aos trabalhadores.", "housing_provided", "Oferecemos moradia"),
    ("pt", "job", "Ganhe até 5 mil reais por semana.", "unrealistic_pay", "Ganhe até"),
    ("pt", "job", "Vaga sem experiência, comece já.", "no_requirements", "sem experiência"),
    ("pt", "job", "Contato pelo WhatsApp.", "messaging_contact", "WhatsApp"),
    ("pt", "job", "Trabalho no exterior para jovens.", "work_abroad", "no exterior"),
    ("pt", "job", "Procuramos moças bonitas para a equipe.", "appearance_requirement", "moças bonitas"),
    ("pt", "job", "Últimas vagas, ligue hoje.", "urgency", "Últimas vagas"),
    ("pt", "job", "A passagem será descontada do salário.", "debt_advance", "descontada do salário"),
    ("pt", "job", "Empresa sigilosa contrata vendedores.", "vague_employer", "Empresa sigilosa"),
    ("pt", "escort", "Novinha muito carinhosa te espera.", "youth", "Novinha"),
    ("pt", "escort", "Recém chegada, muito doce.", "new_in_town", "Recém chegada"),
    ("pt", "escort", "Meu motorista me leva até você.", "third_party", "Meu motorista"),
    ("pt", "escort", "Temos duas amigas para você.", "multiple_providers", "duas amigas"),
    ("pt", "escort", "Atendo somente em local próprio.", "restricted_movement", "somente em local próprio"),
    ("pt", "escort", "Morena paraguaia e carinhosa.", "foreign_origin", "paraguaia"),
    ("pt", "escort", "Completa sem camisinha.", "risky_services", "sem camisinha"),
    ("pt", "escort", "Preço baixo a semana toda.", "low_price", "Preço baixo"),
]


@pytest.mark.parametrize(("lang", "ad_type", "text", "category", "span"), POSITIVES)
def test_every_category_fires_in_spanish_and_portuguese(engine: RuleEngine, lang, ad_type, text, category, span):
    analysis = engine.analyze_one(text, ad_type, lang=lang)
    hits = [h for h in analysis.indicators if h.category == category]
    start = text.index(span)
    assert [(h.start, h.end, h.text) for h in hits] == [(start, start + len(span), span)]
    assert analysis.lang == lang and not analysis.lang_detected


def test_positives_cover_every_category_in_both_languages():
    from scoring.indicators import CATEGORIES

    every = {c for cats in CATEGORIES.values() for c in cats}
    for lang in ("es", "pt"):
        assert {p[3] for p in POSITIVES if p[0] == lang} == every


@pytest.mark.parametrize(
    ("lang", "ad_type", "text"),
    [
        ("es", "job", "No cobramos ninguna cuota de inscripción a los candidatos."),
        ("es", "job", "Nunca le pediremos su pasaporte por correo."),
        ("es", "job", "Se requiere presentar DNI en la entrevista para verificar el derecho a trabajar."),
        ("es", "job", "Cuidado con las ofertas falsas: nosotros no pedimos el pago del trámite de visa."),
        ("es", "job", "La empresa asume el costo del visado y el pasaje de regreso no se descuenta."),
        ("es", "escort", "Señorita madura e independiente, siempre con protección."),
        ("es", "escort", "Masajista titulada, masaje terapéutico con cita previa."),
        ("pt", "job", "Não cobramos nenhuma taxa de inscrição dos candidatos."),
        ("pt", "job", "Apresentar RG e CPF no primeiro dia para registro em carteira."),
        ("pt", "job", "Atenção a golpes: nunca pedimos depósito da taxa de cadastro."),
        ("pt", "escort", "Acompanhante madura e independente, sempre com preservativo."),
        ("pt", "escort", "Massoterapeuta formada, massagem relaxante com hora marcada."),
    ],
)
def test_negated_and_benign_lookalikes_do_not_fire(engine: RuleEngine, lang, ad_type, text):
    assert [(h.category, h.text) for h in engine.analyze_one(text, ad_type, lang=lang).indicators] == []


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Warehouse associates wanted, full-time, benefits after 60 days. Apply online.", "en"),
        ("Recién llegada a la ciudad, muy cariñosa, solo por pocos días.", "es"),
        ("Empresa de limpieza en Madrid busca personal para el turno de mañana.", "es"),
        ("Vagas para trabalhar em Portugal na colheita de frutas, alojamento grátis.", "pt"),
        ("Atendo somente em local próprio, não faço saídas.", "pt"),
    ],
)
def test_language_is_detected_per_ad(engine: RuleEngine, text, lang):
    analysis = engine.analyze_one(text, "job")
    assert analysis.lang == lang and analysis.lang_detected


def test_supported_languages_come_from_the_files():
    assert supported_languages(INDICATORS_DIR) == ["en", "es", "pt"]
    with pytest.raises(ValueError, match="does not know"):
        LanguageDetector(["en", "zz"])


def test_a_given_language_is_reported_as_given(engine: RuleEngine):
    analysis = engine.analyze_one("Recién llegada", "escort", lang="fr")
    assert analysis.lang == "fr" and not analysis.lang_detected


# ------------------------------------------------------------------ normalisation round trips


@pytest.mark.parametrize(
    ("text", "folded", "word"),
    [
        ("send your p a s s p o r t now", "send your passport now", "passport"),
        ("send your p4ssp0rt now", "send your passport now", "passport"),
        ("donâ€™t pay", "don't pay", "don't"),
        ("\uff50\uff41\uff53\uff53port fee", "passport fee", "passport"),
        ("pass\u200bport fee", "passport fee", "passport"),
    ],
)
def test_obfuscation_folding_maps_back(text, folded, word):
    norm = fold_obfuscation(normalize_text(text))
    assert norm.text == folded
    i = norm.text.index(word)
    s, e = norm.span_to_original(i, i + len(word))
    assert s == 0 or text[s - 1] == " "
    assert text[e:].startswith(" ")


def test_digit_lookalikes_fold():
    assert normalize_text("\u2776\u2777 \u2460 5\ufe0f\u20e3").text == "12 1 5"


def test_folding_keeps_digits_and_times():
    for text in ("open 24/7 from 5pm", "call 212-555-0147", "h1b visa"):
        assert fold_obfuscation(normalize_text(text)).text.replace("hib", "h1b") == text


def test_leet_indicator_maps_to_the_callers_text(engine: RuleEngine):
    text = "Please send your p a s s p o r t and pay the r3gistration fee."
    hits = engine.analyze_one(text, "job", lang="en").indicators
    assert [(h.category, h.text) for h in hits] == [
        ("document_request", "send your p a s s p o r t"), ("recruitment_fee", "r3gistration fee"),
    ]


# ------------------------------------------------------------------ entities


def test_prices_with_currency_and_period(extractor):
    text = "Pay $17.50/hr, bonus $2,000 per month, 45k USD per year; 1.100 euros al mes; R$ 1.800 por mês; $40 hh"
    got = [(e.text, e.value) for e in extractor.prices(text, "US")]
    assert got == [
        ("$17.50/hr", "17.5 USD/hour"), ("$2,000 per month", "2000 USD/month"),
        ("45k USD per year", "45000 USD/year"), ("1.100 euros al mes", "1100 EUR/month"),
        ("R$ 1.800 por mês", "1800 BRL/month"), ("$40 hh", "40 USD/half_hour"),
    ]
    assert [e.value for e in extractor.prices("9.000 pesos por semana, $500", "MX")] == ["9000 MXN/week", "500 MXN"]


def test_prices_and_measurements_are_not_phones(extractor):
    text = "Salary $2,125,550,147 and 34-24-36, Job ID 2125550147, born 05.10.1986"
    assert extractor.phones(text, "US") == []


def test_places_ages_and_phones_in_spanish_and_portuguese(engine: RuleEngine):
    text = "Trabajo en Madrid y en España. Tengo 19 años. Llama al seis uno dos tres cuatro cinco seis siete ocho"
    ents = [(e.type, e.value, e.text) for e in engine.analyze_one(text, "job", region="ES").entities]
    assert ("place", "city:Madrid, ES", "Madrid") in ents
    assert ("place", "country:ES", "España") in ents
    assert ("age", "19", "Tengo 19 años") in ents or ("age", "19", "Tengo 19") in ents
    assert [e for e in ents if e[0] == "phone"] == [
        ("phone", "+34612345678", "seis uno dos tres cuatro cinco seis siete ocho")
    ]
    text = "Moro em São Paulo, Brasil. Tenho 22 anos. Liga: onze nove oito sete seis cinco quatro três dois um"
    ents = [(e.type, e.value) for e in engine.analyze_one(text, "escort", region="BR").entities]
    assert ("place", "city:São Paulo, BR") in ents and ("place", "country:BR") in ents
    assert ("age", "22") in ents
    assert ("phone", "+5511987654321") in ents


def test_handles_with_platform(extractor):
    ents = extractor.handles("Telegram: @maria_x, kik - lulu22, t.me/ana_b", "US")
    assert [e.value for e in ents] == ["telegram:@maria_x", "kik:@lulu22", "telegram:@ana_b"]


def test_spelled_out_email_but_not_look_at_me_dot_com(extractor):
    assert [e.value for e in extractor.emails("mail jenny at example dot org")] == ["jenny@example.org"]
    assert [e.value for e in extractor.emails("maria arroba example punto com")] == ["maria@example.com"]
    assert extractor.emails("come look at me dot com style") == []


def test_phone_in_a_url_slug_uses_a_fallback_region(extractor):
    url = "http://mumbai.example.org/Escorts/navi-mumbai-08839515268-call-girls/16120789"
    assert [e.value for e in extractor.phones(url, "US")] == ["+918839515268"]


def test_entity_and_place_components_in_a_blank_pipeline():
    import spacy

    import scoring.extract  # noqa: F401  (registers the factories)

    nlp = spacy.blank("en")
    nlp.add_pipe("adwatch_entities", config={"indicators_dir": str(INDICATORS_DIR)})
    nlp.add_pipe("adwatch_places", config={"indicators_dir": str(INDICATORS_DIR)})
    doc = nlp("In Chicago this week, $60/hr, text 212-555-0147")
    assert [(s.text, s.label_) for s in doc.spans["entities"]] == [
        ("$60/hr", "price:60 USD/hour"), ("212-555-0147", "phone:+12125550147"),
    ]
    assert [(s.text, s.label_) for s in doc.spans["places"]] == [("Chicago", "city:Chicago, US")]


def test_trunk_prefixed_numbers_use_fallback_regions_but_ids_do_not(extractor):
    assert [e.value for e in extractor.phones("call 020 7946 0018", "US")] == ["+442079460018"]
    assert extractor.phones("SKU 08839515268 in stock", "US") == []
    assert extractor.phones("https://example.org/jobs/12345678901/apply", "US") == []

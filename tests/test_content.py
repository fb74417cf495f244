"""Content rules for every response in the domain/ folder: general answers, drug variants and
sub-answers (bot/content.py reads them, as `fsgs-bot content report` does).

Curated answers must be sourced, reviewed, short, plain and general; no response may personalise a
dose or repeat a fact that shared/fsgs-facts.md corrects. The issue-11 review's findings each have a
check of their own below ("Reviewed findings"), written to fail on the text the review saw.
"""
from __future__ import annotations

import datetime as dt
import re
import statistics
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
import yaml

from bot import content
from bot.content import Variation
from bot.intents import INFORMATIONAL_INTENTS
from bot.nlp.pipeline import load_terms
from bot.nlp.subanswer_scoring import configured_same_question
from bot.nlp.subanswers import topic_of
from bot.settings import PROJECT_ROOT

DRUG_SPECIFIC_INTENTS = ["side_effects", "immunosuppressants", "kidney_protection"]
MAX_MEDIAN_GRADE = 8.0
SUB_ANSWER_WORDS = (40, 150)
GENERAL_WORDS = (80, 180)
MIN_HOLDOUT_PER_SUB_ANSWER = 2

DOSE_PERSONALISATION = [
    r"\byou should take\b", r"\byour (child's |son's |daughter's )?dose (is|should)\b",
    r"\b(increase|decrease|reduce|lower|raise|double) your\b", r"\bstop taking your\b",
    r"\b(take|give)\s+\d+(\.\d+)?\s*(mg|milligrams?)\b",
]
_DAPA_CKD = r"dapagliflozin|dapa-ckd|sglt2|gliflozin"
# Facts the original article or the issue-11 review got wrong, checked per sentence.
CORRECTED_FACTS: dict[str, Callable[[str], object]] = {
    "cyclosporine 'twice a day' (it is per day, split in two)":
        lambda s: re.search(r"cyclosporin|ciclosporin|neoral", s, re.I)
        and re.search(r"twice (a|per|each) day|twice daily|\bbid\b", s, re.I),
    "steroid resistance after 6 months (adults: 16 weeks)":
        lambda s: re.search(r"resist", s, re.I) and re.search(r"\b(6|six) months\b", s, re.I),
    "'glomerulonephritis' (FSGS is a glomerulosclerosis)":
        lambda s: re.search(r"glomerulonephritis", s, re.I),
    "'uremia' (say kidney failure)": lambda s: re.search(r"\bura?emi(a|c)\b", s, re.I),
    "three categories of FSGS (KDIGO 2021 has four)":
        lambda s: re.search(r"\bthree (types|categories|kinds)\b", s, re.I),
    "mycophenolate 'no significant difference from cyclosporine' (dropped from the sheet's use)":
        lambda s: re.search(r"no (statistically )?significant difference", s, re.I)
        and re.search(r"cyclosporin|ciclosporin", s, re.I),
    "'everyone' takes an ACE inhibitor/ARB (not everyone: supportive care is chosen per person)":
        lambda s: re.search(r"\b(everyone|everybody|all patients|every patient)\b", s, re.I)
        and re.search(r"\bACE\b|\bARBs?\b", s),
    "DAPA-CKD FSGS eGFR slope 'not significant' (it fell significantly more slowly)":
        lambda s: re.search(_DAPA_CKD, s, re.I)
        and re.search(r"not (statistically )?(significant|certain)|no significant", s, re.I)
        and not re.search(r"too (few|small)", s, re.I),
    "'Black Americans' / 'African Americans' (say African ancestry)":
        lambda s: re.search(r"\b(black|african)[ -]americans?\b", s, re.I),
    "TANGO's adult figure (about a third) applied to children (up to 8 in 10)":
        lambda s: re.search(r"\b(child|children|kids?)\b", s, re.I)
        and re.search(r"about a third|one in three|1 in 3|32%", s, re.I)
        and not re.search(r"adult", s, re.I),
}


@pytest.fixture(scope="module")
def variations() -> list[Variation]:
    return content.load_variations()


@pytest.fixture(scope="module")
def curated(variations) -> list[Variation]:
    return content.curated_variations(variations)


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+|\n", text) if s.strip()]


def _topic(curated: Iterable[Variation], topic: str) -> list[Variation]:
    return [v for v in curated if v.topic == topic]


def _mentions(curated: Iterable[Variation], pattern: str) -> list[Variation]:
    return [v for v in curated if re.search(pattern, v.body, re.I)]


# --- structure ---------------------------------------------------------------------------------

def test_every_informational_intent_has_one_curated_response(variations):
    names = {v.response for v in variations}
    assert [i for i in INFORMATIONAL_INTENTS if f"utter_{i}" not in names] == []


def test_every_informational_intent_has_exactly_one_rule():
    """One plain rule per answer; rules with a condition (e.g. during the contact form) are extra."""
    counts = {intent: 0 for intent in INFORMATIONAL_INTENTS}
    for path in Path(PROJECT_ROOT / "stories").glob("*.yml"):
        for rule in yaml.safe_load(path.read_text(encoding="utf-8")).get("rules", []):
            if rule.get("condition"):
                continue
            steps = rule.get("steps", [])
            for step, following in zip(steps, steps[1:], strict=False):
                intent = step.get("intent")
                if intent in counts and following.get("action") == f"utter_{intent}":
                    counts[intent] += 1
    assert {i: n for i, n in counts.items() if n != 1} == {}


def test_curated_variations_end_with_a_source_line_and_an_offer(curated):
    problems = []
    for v in curated:
        if v.source is None:
            problems.append(f"{v.label}: last line is not 'Source: ...'")
        if len(v.lines) < 2 or not re.search(r"care team", v.lines[-2], re.I):
            problems.append(f"{v.label}: no offer to reach the care team")
    assert problems == []


def test_sub_answers_are_40_to_150_words_and_general_answers_80_to_180(curated):
    def out_of_range(v: Variation) -> bool:
        low, high = SUB_ANSWER_WORDS if v.kind == "sub_answer" else GENERAL_WORDS
        return not low <= v.words <= high
    assert {v.label: (v.kind, v.words) for v in curated if out_of_range(v)} == {}


def test_median_reading_grade_is_8_or_lower(curated):
    grades = [v.grade for v in curated]
    hardest = sorted(((round(v.grade, 1), v.label) for v in curated), reverse=True)[:10]
    assert statistics.median(grades) <= MAX_MEDIAN_GRADE, f"hardest: {hardest}"


def test_every_curated_variation_has_a_unique_id_of_its_topic(curated, variations):
    ids = [v.id for v in variations if v.id]
    assert sorted({i for i in ids if ids.count(i) > 1}) == []
    assert [v.label for v in curated if not v.id or not v.id.startswith(f"{v.topic}.")] == []


def test_sub_answer_ids_equal_their_condition_value(curated):
    assert [(v.id, v.sub_answer) for v in curated if v.kind == "sub_answer" and v.id != v.sub_answer] == []


def test_general_answer_comes_last_without_a_condition(curated):
    problems = []
    for topic in INFORMATIONAL_INTENTS:
        topic_variations = _topic(curated, topic)
        defaults = [v for v in topic_variations if not v.conditions]
        if len(defaults) != 1 or topic_variations[-1] is not defaults[0]:
            problems.append(topic)
    assert problems == []


def test_drug_variants_use_canonical_drugs_and_give_way_to_sub_answers(curated):
    """A drug variant must also require sub_answer "": Rasa picks at random among all matching
    conditional variations, so without it a drug variant could beat the sub-answer."""
    canonical_medications = set(load_terms()["medication"])
    problems = []
    for v in curated:
        names = {name for name, _ in v.conditions}
        if v.kind == "drug":
            if v.medication not in canonical_medications:
                problems.append(f"{v.label}: {v.medication} is not a terms.yml medication")
            if (content.SUB_ANSWER_SLOT, "") not in v.conditions:
                problems.append(f"{v.label}: no sub_answer \"\" condition")
        if names - {content.SUB_ANSWER_SLOT, content.MEDICATION_SLOT}:
            problems.append(f"{v.label}: conditions on {names}")
        if v.kind == "sub_answer" and names != {content.SUB_ANSWER_SLOT}:
            problems.append(f"{v.label}: a sub-answer conditions on the sub_answer slot only")
    assert problems == []


def test_drug_specific_intents_have_drug_variants(curated):
    assert [t for t in DRUG_SPECIFIC_INTENTS
            if len([v for v in _topic(curated, t) if v.kind == "drug"]) < 3] == []


def test_every_sub_answer_has_training_questions_and_every_training_id_an_answer(curated):
    answered = {v.sub_answer for v in curated if v.kind == "sub_answer"}
    trained = set(content.question_counts(content.SUB_ANSWER_TRAINING_DIR)) - {""}
    assert (sorted(answered - trained), sorted(trained - answered)) == ([], [])


def test_training_questions_are_labelled_with_their_sub_answers_topic():
    wrong = [(intent, text, sub) for sub, pairs in
             content.sub_answer_questions(content.SUB_ANSWER_TRAINING_DIR).items()
             for intent, text in pairs if sub and not sub.startswith(f"{intent}.")]
    assert wrong == []


def test_same_question_pairs_name_sub_answers_of_two_topics(curated):
    """config.yml's `same_question` pairs: existing sub-answers, each pair from two topics."""
    ids = {v.sub_answer for v in curated if v.sub_answer}
    groups = configured_same_question()
    assert groups, "config.yml declares no same_question pairs"
    for member, others in groups.items():
        assert member in ids and others <= ids, (member, others)
        assert topic_of(member) not in {topic_of(o) for o in others}, (member, others)


def test_every_sub_answer_has_two_held_out_questions(curated):
    held_out = content.question_counts(content.SUB_ANSWER_HOLDOUT_DIR)
    assert {v.sub_answer: held_out[v.sub_answer] for v in curated if v.kind == "sub_answer"
            and held_out[v.sub_answer] < MIN_HOLDOUT_PER_SUB_ANSWER} == {}


def test_held_out_questions_are_never_training_examples():
    def texts(folder: Path) -> set:
        found = set()
        for path in folder.rglob("*.yml"):
            for block in (content.load_yaml(path).get("nlu") or []):
                examples = block.get("examples") or []
                if isinstance(examples, str):
                    examples = [{"text": line.lstrip("- ")} for line in examples.splitlines()]
                found |= {str(e.get("text", "")).strip().lower() for e in examples if isinstance(e, dict)}
        return found
    held_out = texts(content.SUB_ANSWER_HOLDOUT_DIR)
    assert sorted(held_out & texts(PROJECT_ROOT / "nlu_data")) == []


def test_every_answer_was_reviewed_by_a_clinician_within_a_year(curated):
    today = dt.date.today()
    assert {v.label: v.review_problems(today) for v in curated if v.review_problems(today)} == {}


# --- safety and wording --------------------------------------------------------------------------

def test_no_response_personalises_a_dose(variations):
    hits = [(v.label, pattern) for v in variations for pattern in DOSE_PERSONALISATION
            if re.search(pattern, v.text, re.I)]
    assert hits == []


def test_no_response_repeats_a_corrected_fact(variations):
    hits = [(v.label, fact, sentence) for v in variations for sentence in _sentences(v.body)
            for fact, matches in CORRECTED_FACTS.items() if matches(sentence)]
    assert hits == []


@pytest.mark.parametrize("sentence, fact", [
    ("Cyclosporine 4-5 mg/kg twice a day.", "cyclosporine"),
    ("You are steroid resistant after 6 months of prednisone.", "steroid resistance"),
    ("Focal Segmental Glomerulonephritis is a disease.", "glomerulonephritis"),
    ("Without treatment, uremia follows in 5-10 years.", "uremia"),
    ("In the NIH FSGS trial, results with mycophenolate showed no significant difference from "
     "cyclosporine.", "mycophenolate"),
    ("Everyone gets supportive care: an ACE inhibitor or ARB to lower protein.", "everyone"),
    ("In DAPA-CKD, the FSGS group lost kidney function more slowly on dapagliflozin, but the "
     "difference was not statistically certain.", "DAPA-CKD"),
    ("About 13% of Black Americans carry two risk variants of the APOL1 gene.", "African ancestry"),
    ("FSGS comes back in about a third of children after a transplant.", "TANGO"),
])
def test_corrected_fact_checks_catch_the_reviewed_wording(sentence, fact):
    assert any(matches(sentence) for name, matches in CORRECTED_FACTS.items() if fact in name)


_UNIT = r"(mg/g|g/g|mg/mg|mg/mmol)"
_FIGURE = re.compile(rf"(\d[\d,]*(?:\.\d+)?)\s*{_UNIT}", re.I)


def _ratio_figures(sentence: str) -> tuple[list[float], list[float]]:
    """(figures in mg/g, figures in mg/mmol) of the urine protein or albumin ratios in a sentence."""
    per_gram, per_mmol = [], []
    for number, unit in _FIGURE.findall(sentence):
        value = float(number.replace(",", ""))
        unit = unit.lower()
        if unit == "mg/mmol":
            per_mmol.append(value)
        else:
            per_gram.append(value * (1000 if unit in ("g/g", "mg/mg") else 1))
    return per_gram, per_mmol


def _unit_problems(sentence: str) -> list[str]:
    """Each figure needs its other-unit partner in the same sentence: 100 mg/g is about 10 mg/mmol
    (KDIGO's rounded rule, factor 0.1) or 11.3 (exact, factor 0.113)."""
    per_gram, per_mmol = _ratio_figures(sentence)
    def partnered(grams: float, mmols: float) -> bool:
        return 0.085 <= mmols / grams <= 0.125 if grams else False
    problems = [f"{g:g} mg/g without mg/mmol" for g in per_gram
                if not any(partnered(g, m) for m in per_mmol)]
    return problems + [f"{m:g} mg/mmol without mg/g" for m in per_mmol
                       if not any(partnered(g, m) for g in per_gram)]


def test_every_urine_ratio_figure_is_given_in_both_units(variations):
    hits = {(v.label, s): _unit_problems(s) for v in variations for s in _sentences(v.body)
            if _unit_problems(s)}
    assert hits == {}


@pytest.mark.parametrize("sentence, ok", [
    ("In adults, complete remission is a UPCR under 300 mg/g.", False),
    ("Complete remission is a UPCR under 300 mg/g (about 30 mg/mmol).", True),
    ("In children, remission is a UPCR of 20 mg/mmol or less (about 200 mg/g).", True),
    ("Nephrotic range in children: 200 mg/mmol (2 mg/mg) or more.", True),
    ("A UPCR of 3,500 mg/g is about 350 mg/mmol.", True),
    ("A UPCR of 3,500 mg/g is about 35 mg/mmol.", False),
])
def test_unit_check_reads_the_figures(sentence, ok):
    assert (_unit_problems(sentence) == []) is ok


# --- reviewed findings (issue 11): each fails on the text the review saw ------------------------

def test_proteinuria_gives_childrens_thresholds_and_relapse_at_3_plus(curated):
    texts = " ".join(v.body for v in _topic(curated, "proteinuria_nephrotic"))
    assert re.search(r"\b20 mg/mmol\b", texts), "children's remission (UPCR 20 mg/mmol or less)"
    assert re.search(r"relapse[^.]*3\+|3\+[^.]*relapse", texts, re.I), "children's relapse: 3+"
    wrong = [v.label for v in curated if re.search(r"\b2\+", v.body) and re.search(r"relapse", v.body, re.I)
             and "3+" not in v.body]
    assert wrong == [], "a relapse at 2+ is given only as 'sources differ', next to the 3+ rule"


_FLU_VACCINE = r"\bflu\b[^.]*\b(vaccin\w*|jabs?|shots?|injections?|spray)"


def test_flu_vaccine_is_the_injection_never_the_nasal_spray(curated):
    problems = []
    for v in _mentions(curated, _FLU_VACCINE):
        for sentence in _sentences(v.body):
            positive = re.search(r"\b(yes|fine|recommended|allowed|safe|ok|okay)\b", sentence, re.I)
            about_others = re.search(r"family|household|at home|brothers|sisters|parents", sentence, re.I)
            if re.search(_FLU_VACCINE, sentence, re.I) and positive and not about_others \
                    and not re.search(r"inject|jab|shot|nasal", sentence, re.I):
                problems.append(f"{v.label}: {sentence!r} does not say the flu injection")
    assert problems == []


def test_immune_lowering_answers_that_talk_of_vaccines_say_nasal_spray_is_out(curated):
    checked = [v for v in _topic(curated, "side_effects")
               if v.kind == "general" or v.medication in ("prednisone", "mycophenolate", "rituximab")]
    assert len(checked) == 4
    assert [v.label for v in checked if re.search(r"vaccin", v.body, re.I)
            and not re.search(r"nasal", v.body, re.I)] == []


def test_side_effects_say_same_day_contact_after_chickenpox_or_measles(curated):
    general = [v for v in _topic(curated, "side_effects") if v.kind == "general"][0]
    assert re.search(r"chickenpox|measles", general.body, re.I) \
        and re.search(r"same day|that day|the same day|today", general.body, re.I), general.body


def test_mycophenolate_pregnancy_rules_are_complete_somewhere(curated):
    candidates = _mentions(curated, r"mycophenolate|\bMMF\b|cellcept")
    required = {"pregnancy test": r"pregnancy tests?", "6 weeks after": r"\b6 weeks\b|six weeks",
                "men: 90 days": r"\b90 days\b", "do not stop yourself": r"(don't|do not|never) stop",
                "call the team": r"call|phone|contact|tell"}
    best = max(candidates, key=lambda v: sum(bool(re.search(p, v.body, re.I)) for p in required.values()))
    assert [n for n, p in required.items() if not re.search(p, best.body, re.I)] == [], best.label


def test_tacrolimus_brands_once_daily_and_one_brand(curated):
    problems = []
    for v in _mentions(curated, r"tacrolimus|prograf|advagraf|envarsus"):
        twice = re.search(r"two doses|twice", v.body, re.I)
        if twice and re.search(r"advagraf|envarsus", v.body, re.I) \
                and not re.search(r"once (a |per |each )?day|once daily|once-daily", v.body, re.I):
            problems.append(f"{v.label}: names Advagraf/Envarsus and two doses, not that they are once daily")
    tacrolimus = [v for v in curated if v.medication == "tacrolimus"]
    if not any(re.search(r"same brand|one brand|by brand", v.body, re.I) for v in tacrolimus):
        problems.append("no tacrolimus drug variant says to stay on the same brand")
    if not _mentions(curated, r"(advagraf|envarsus)[^.]*once|once[^.]*(advagraf|envarsus)"):
        problems.append("no answer says Advagraf and Envarsus are once daily")
    assert problems == []


def test_sparsentan_replaces_acei_arb_with_liver_tests_no_pregnancy_us_only(curated):
    variant = [v for v in curated if v.topic == "kidney_protection" and v.medication == "sparsentan"]
    assert variant, "kidney_protection has a sparsentan variant"
    body = variant[0].body
    required = {"replaces the ACE inhibitor/ARB": r"instead of|replaces|in place of",
                "never combined": r"never|not (be )?(taken|given|used) (together )?with|not together",
                "liver tests": r"liver", "no pregnancy": r"pregnan",
                "US approval for FSGS": r"\bUS\b[^.]*FSGS|FSGS[^.]*\bUS\b"}
    assert [n for n, p in required.items() if not re.search(p, body, re.I)] == []
    claims = [s for v in _mentions(curated, r"sparsentan|filspari") for s in _sentences(v.body)
              if re.search(r"approv", s, re.I) and re.search(r"FSGS", s)
              and re.search(r"\b(EU|Europe|UK|Britain|NICE|EMA)\b", s)
              and not re.search(r"\bnot\b|\bno\b", s, re.I)]
    assert claims == [], "sparsentan is approved for FSGS in the US only"


def test_sglt2_answer_reports_the_fsgs_subgroup_correctly(curated):
    about = _mentions(curated, r"dapa-ckd|dapagliflozin[^.]*FSGS|FSGS[^.]*dapagliflozin")
    assert about, "an answer reports the DAPA-CKD FSGS subgroup"
    body = " ".join(v.body for v in about)
    required = {"significantly more slowly": r"significantly more slowly|more slowly[^.]*significant",
                "too small for kidney failure": r"too (few|small)",
                "no immunosuppression in the trial":
                    r"(immunosuppress|immune[- ]lowering|immune[- ]suppress)[^.]*not (in|included|enrolled)|"
                    r"not (enrol|includ)[^.]*(immunosuppress|immune[- ]lowering|immune[- ]suppress)"}
    assert [n for n, p in required.items() if not re.search(p, body, re.I)] == []


_JARGON = {
    "eGFR": (r"\beGFR\b", r"eGFR\s*\(|\(eGFR|eGFR\b[^.]{0,60}\b(filter|filtering|estimate)|"
                          r"(filter|filtering|estimate)[^.]{0,60}\beGFR\b"),
    "creatinine": (r"\bcreatinine\b", r"creatinine\s*\(|creatinine\b[^.]{0,60}\bwaste|"
                                      r"waste[^.]{0,60}\bcreatinine|protein-to-creatinine|"
                                      r"protein:creatinine|protein to creatinine"),
    "trough": (r"\btrough\b", r"trough\b[^.]{0,60}\b(before|lowest)|\(trough|trough\s*\(|"
                              r"(before|lowest)[^.]{0,60}\btrough"),
}


@pytest.mark.parametrize("term", sorted(_JARGON))
def test_jargon_is_explained_where_it_is_used(curated, term):
    used, explained = _JARGON[term]
    assert [v.label for v in curated if re.search(used, v.body, re.I)
            and not re.search(explained, v.body, re.I)] == []


def test_us_and_apol1_claims_cite_their_sources(curated):
    problems = [f"{v.label}: US prevalence claim without MSD" for v in curated
                if re.search(r"(common|more so|most)[^.]*\b(in the US|US adults)\b", v.body)
                and not re.search(r"MSD", v.source or "")]
    apol1_sources = r"Kopp|Knowable|British Transplantation Society|BTS|Mena-Gutierrez|Doshi|AST"
    genetic_claim = r"APOL1[^.]*(variant|ancestry|carr|risk|gene)|(variant|ancestry|carr|risk|gene)[^.]*APOL1"
    problems += [f"{v.label}: APOL1 genetics without an APOL1 source"
                 for v in _mentions(curated, genetic_claim) if not re.search(apol1_sources, v.source or "")]
    assert problems == []


def test_aspirin_is_said_to_be_no_substitute_for_a_blood_thinner(curated):
    clots = _mentions(curated, r"aspirin")
    assert clots and any(re.search(r"aspirin[^.]*(no|not a) substitute|aspirin[^.]*(does not|doesn't|"
                                   r"cannot|can't) replace", v.body, re.I) for v in clots)


def test_a_disclaimer_exists():
    """The session-start disclaimer (sent by the Rasa process itself, bot/rasa_actions.py)."""
    from bot.rasa_actions import DISCLAIMER

    assert re.search(r"not a doctor", DISCLAIMER, re.I) and re.search(r"very unwell", DISCLAIMER, re.I)


# --- `fsgs-bot content report` --------------------------------------------------------------------

def _write_topic(folder: Path, reviewed: str, source: bool = True) -> None:
    source_line = "\n        Source: KDIGO 2021 glomerular diseases guideline." if source else ""
    (folder / "answers").mkdir(parents=True, exist_ok=True)
    (folder / "answers" / "side_effects.yml").write_text(f'''version: "3.1"
responses:
  utter_side_effects:
    - id: side_effects.general
      text: |-
        Every treatment has side effects.
        Ask me more, or say "talk to a person" to reach your care team.{source_line}
      metadata:
        reviewed: "{reviewed}"
''', encoding="utf-8")


def _report(capsys, folder: Path, *extra: str) -> tuple[int, str]:
    from bot.cli import main

    code = main(["content", "report", "--domain", str(folder), *extra])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_content_report_passes_fresh_sourced_answers(tmp_path, capsys):
    _write_topic(tmp_path, dt.date.today().isoformat())
    code, out = _report(capsys, tmp_path)
    assert code == 0 and "side_effects.general" in out and "0 flagged" in out


@pytest.mark.parametrize("reviewed, source, flag", [
    ((dt.date.today() - dt.timedelta(days=366)).isoformat(), True, "over a year"),
    (dt.date.today().isoformat(), False, "no source line"),
    ("", True, "no review date"),
    ("last spring", True, "no review date"),
    ((dt.date.today() + dt.timedelta(days=3)).isoformat(), True, "in the future"),
])
def test_content_report_flags_and_fails(tmp_path, capsys, reviewed, source, flag):
    _write_topic(tmp_path, reviewed, source)
    code, out = _report(capsys, tmp_path, "--flagged-only")
    assert code == 1 and flag in out and "1 flagged" in out


def test_content_report_explains_unreadable_content(tmp_path, capsys):
    (tmp_path / "broken.yml").write_text("responses: [unclosed", encoding="utf-8")
    code, out = _report(capsys, tmp_path)
    assert code == 2 and "broken.yml" in out
    code, out = _report(capsys, tmp_path / "missing")
    assert code == 2 and "no curated answers" in out


def test_content_report_on_the_project_content(capsys):
    """The same check CI runs: every answer sourced and reviewed within a year."""
    code, out = _report(capsys, content.DOMAIN_DIR)
    assert code == 0, "\n".join(line for line in out.splitlines() if line.startswith("!"))

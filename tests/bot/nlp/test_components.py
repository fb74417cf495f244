"""The trained model end to end: red-flag override, canonical entities, hostile input."""
from __future__ import annotations

import pytest
from rasa.shared.core.domain import Domain

from bot.intents import ESCALATION_INTENTS, FALLBACK_INTENT
from bot.nlp.components import (
    RED_FLAG_OVERRIDE_KEY,
    contact_request_cues,
    is_general_question,
    personal_advice_cues,
    sentence_spans,
)
from bot.settings import PROJECT_ROOT

ESCALATION = set(ESCALATION_INTENTS)


@pytest.mark.parametrize("text, general", [
    ("can FSGS cause chest pain?", True),
    ("What are the signs of a blood clot, like a swollen painful leg?", True),
    ("my son has chest pain", False),
    ("can you help, my husband can't breathe", False),
    ("I fainted", False),
    ("chest pain right now", False),
])
def test_is_general_question(text, general):
    assert is_general_question(text) is general


@pytest.mark.parametrize("text, cued", [
    ("my son's creatinine came back at 140, is that bad?", True),
    ("should I switch to tacrolimus?", True),
    ("can my daughter take ibuprofen", True),
    ("is it ok for me to skip my losartan today", True),
    ("how much pred should my son take", True),
    ("what are the options when steroids fail?", False),
    ("how much salt should people with fsgs eat", False),
    ("why do they give prednisone for fsgs", False),
    ("can I take part in a clinical trial", False),
    ("what is a normal creatinine level", False),
    ("My son relapsed in March and went back on pred. He is on 40 mg now, should we reduce it?", True),
    ("The doctor said we should reduce it by 5 mg a week. Why is the taper so slow?", False),
    ("Our nephrologist wants us to stop the tacrolimus next month. How long do people stay on it?",
     False),
    ("can I drink alcohol with fsgs", False),
    ("can I get pregnant with FSGS?", False),
    ("My son is on tacrolimus now and relapsing every 3 months. Should we ask to switch him to the "
     "infusion?", True),
    ("should we ask the doctor about stopping the prednisolone", True),
    ("should I consider switching to the once-daily brand?", True),
    ("should I consider taking part in a trial?", False),
    ("what should we ask the doctor at the next visit?", False),
    # Decisions worded the way parents write them (a dev set of forum-style messages, session 9).
    ("Albumin was 19 at the last check. Should I be taking a blood thinner, like aspirin?", True),
    ("His ankles are puffy again. Does that mean he has relapsed? should he go up on his steroids?",
     True),
    ("Should we agree to the biopsy or wait for the genetic result first?", True),
    ("The team offers a biopsy and genetic testing. What would you do if it was your child?", True),
    ("I want to give my brother a kidney. Am I suitable to donate?", True),
    ("The report says 3 out of 20 glomeruli are sclerosed. how bad is his biopsy", True),
    ("Kya hum steroid band karke ayurvedic de sakte hain?", True),
    ("steroid band karne se kya hota hai", False),
    ("should I be on the lookout for infections on tacrolimus", False),
    ("are people with FSGS suitable kidney donors for others?", False),
    ("how bad is FSGS compared with minimal change disease?", False),
    ("Dipstick 4+ again, day three. Do I put her back up to the full 60 on the pred?", True),
    ("What do his numbers mean? Albumin 22, creatinine 48, cholesterol 9.1.", True),
    ("Would you recommend rituximab for her? She's had 4 relapses this year.", True),
    ("Can she still go swimming with her class on Friday after the biopsy on Tuesday?", True),
    ("This morning's dipstick was 2+. Is he still ok to travel?", True),
    ("Would it be a good idea for me to donate?", True),
    ("Which one would you go for in his case?", True),
    ("beti ka protein 5 din se negative hai, kya prednisolone ka dose kam kar de?", True),
    ("Should we put her back on daily steroids, or keep her on alternate days?", True),
    ("can I still play sports with fsgs", False),
    ("what does my gene result mean for my brothers and sisters", False),
    ("when do I stop the 24 hour collection", False),
    ("Is there any treatment for fsgs or do we just wait for dialysis?", False),
    ("is it ok to travel with fsgs?", False),
    ("what do the numbers on a kidney blood test mean?", False),
    ("Meri wife ko Wysolone 60mg chal raha hai. Kya hum khud se 40 kar sakte hain?", True),
    ("Can my grandson have the nasal flu vaccine next week? He's on prednisolone 20mg", True),
    ("eGFR dropped from 48 to 39 this year. How long have I got before I need dialysis?", True),
    ("The biopsy says collapsing variant. What does it mean for me specifically?", True),
    ("He is on 40 mg pred now. Why does pred cause mood swings?", False),
    ("can people with fsgs have the flu vaccine?", False),
    ("Our 5 year old is a frequent relapser. What does that mean for him long term?", False),
    ("Is it wise to move my son's prednisolone to the evening?", True),
    ("Would it hurt if we left out tonight's tacrolimus dose? We're at a wedding.", True),
    ("If I just took half the dose without telling anyone would it really matter?", True),
    ("Two years in remission on MMF. I'm thinking of asking to come off it.", True),
    ("Honestly, would you put her forward for the transplant list?", True),
    ("We were going to give her papaya leaf juice with the steroids. Any problem with that for her?",
     True),
    ("He has a tummy bug. Does he carry on with his dapagliflozin today? Or do we hold off?", True),
    ("how many months after the steroid course do we carry on checking urine", False),
    ("is it wise to take steroids in the morning?", False),
    ("Mera beta prednisolone pe hai. Kya usko typhoid ka vaccine lag sakta hai?", True),
])
def test_personal_advice_cues_are_narrow(text, cued):
    assert bool(personal_advice_cues(text)) is cued


@pytest.mark.parametrize("text, cued", [
    ("Can someone from the clinic contact me? We need to rearrange the biopsy appointment.", True),
    ("please have a nurse call me back about the results", True),
    ("could the renal team ring us", True),
    ("someone from the kidney team please call me", True),
    ("call me back please", True),
    ("how do I contact the clinic?", False),
    ("does the clinic call you with biopsy results?", False),
    ("my doctor called me yesterday about the biopsy", False),
    ("Can you put me in touch with a staff member?", True),
    ("honestly I'd rather talk it through with someone from the kidney team than a chatbot", True),
    ("please connect me with a nurse", True),
    ("I'd rather go through this with the transplant coordinator. Can you put me through?", True),
    ("doctor se baat karni hai, kaise hoga?", True),
    ("Could a member of staff get in touch with me about rebooking the infusion?", True),
    ("Can I talk to the dietitian? I need proper help with a meal plan", True),
    ("how do I get in touch with the clinic?", False),
    ("do nurses talk to parents before the biopsy?", False),
])
def test_contact_request_cues_are_narrow(text, cued):
    assert bool(contact_request_cues(text)) is cued


@pytest.mark.parametrize("text, sentences", [
    ("My creatinine is 1.8. Is it bad?", ["My creatinine is 1.8.", " Is it bad?"]),
    ("no punctuation at all", ["no punctuation at all"]),
    ("first line\nsecond line", ["first line\n", "second line"]),
])
def test_sentence_spans_do_not_split_decimals(text, sentences):
    assert [text[start:end] for start, end in sentence_spans(text)] == sentences


@pytest.mark.parametrize("text, intent", [
    ("should I switch to tacrolimus?", "personal_advice"),
    ("can I take ibuprofen", "personal_advice"),
    ("is my creatinine of 1.8 bad", "personal_advice"),
    ("how much pred should my son take", "personal_advice"),
    ("what are the options when steroids fail?", "steroid_resistance"),
    ("I've had 16 weeks of prednisone and still have protein, what are the options now?",
     "steroid_resistance"),
    ("can I take ibuprofen for my headache", "personal_advice"),
    ("should I stop my tacrolimus", "personal_advice"),
    ("can I get pregnant with FSGS?", "complications"),
    ("can I drink alcohol?", "diet_lifestyle"),
    ("can I exercise", "diet_lifestyle"),
    ("stop", "deny"),
    ("cancel", "deny"),
    ("never mind", "deny"),
    ("no thanks", "deny"),
    ("My boy is 6, diagnosed at 3, relapses every winter. He relapsed again last week and is back on "
     "prednisolone. He is on 40 mg now, should we reduce it?", "personal_advice"),
    ("We have read a lot about rituximab, my son is on tacrolimus now and relapsing every 3 months. "
     "Should we ask to switch him to the infusion?", "personal_advice"),
    ("Can someone from the clinic contact me? We need to rearrange the biopsy appointment.",
     "request_human"),
])
def test_boundary_between_education_and_personal_advice(parse, text, intent):
    assert parse(text)["intent"]["name"] == intent


@pytest.mark.parametrize("text", [
    "Sorry for the long post. My son was diagnosed two years ago and has had many relapses, he is on "
    "tacrolimus. Tonight he has chest pain and he can't breathe properly. What do we do?",
    "Last year he had a clot in his leg. Now his calf is swollen and painful again since this morning.",
    "hello doctor, my daughter has nephrotic syndrome and is very puffy, she hasn't peed since yesterday",
    "meri beti ko saans lene me taklif ho rahi hai, she has nephrotic syndrome and is very swollen, "
    "please tell what to do",
    "MY SON CAN'T BREATHE PROPERLY AND HIS LIPS ARE BLUE",
    # A fever reading on immunosuppression, and Hinglish fever and belly pain (red flags 5 and 6),
    # even when the message also asks for a decision.
    "fever 39.4 and shivering badly, had the infusion (rituximab) 3 weeks back and still on low "
    "dose pred. should i just take paracetamol and wait till monday clinic?",
    "beta ko tez bukhar hai 103 aur pet mein bahut dard ho raha hai, Omnocortil chal raha hai, "
    "kya karein abhi",
    "My daughter is on tacrolimus. Her temp is 38.6 tonight and she feels awful.",
    "Quick question about low-salt snacks for kids. Oh and she's had a fever of 38.5 since about an "
    "hour ago and she's shivering, she had rituximab 3 weeks ago. Are rice cakes ok?",
    "Papa ko theek se saans nahi aa rahi, chest tight lag rahi hai, albumin bahut low tha last week.",
    "MY LEFT LEG IS SWOLLEN TWICE THE SIZE OF THE RIGHT AND ITS RED AND HOT SINCE THIS MORNING",
    "My son has nephrotic syndrome, he is vomiting since morning and he vomited the steroid dose also.",
    "bacche ne subah se susu nahi kiya, pura body phool gaya hai",
    "About 15 minutes ago her face started drooping on one side and her words are slurred.",
    "sudden really bad pain in my left side and back started an hour ago and now my pee is red",
    "My left calf has gone swollen, red and really painful since this morning, the right leg is fine.",
    "coughing up streaks of blood for the last hour and my heart is pounding. on tacrolimus",
    "Today she came home from school saying her tummy hurts really badly, she's thrown up twice and "
    "she feels hot to touch.",
    "Mummy ne subah se ek baar bhi urine pass nahi kiya, 14 ghante ho gaye hain.",
    "sudden really bad pain in my right side going round to my back and my pee looks like cola",
    "Tonight he has really bad tummy pain, he's been sick twice and he feels hot.",
    "Papa ko FSGS hai. Abhi achanak unka chehra ek side se latak gaya hai. Kya karein??",
])
def test_an_emergency_inside_a_long_message_is_still_an_emergency(parse, text):
    result = parse(text)
    assert result["intent"]["name"] == "emergency"
    assert result[RED_FLAG_OVERRIDE_KEY]


@pytest.mark.parametrize("text", [
    "Last year he had a swollen painful leg from a clot and was in hospital for a week. "
    "Why do clots happen in nephrotic syndrome?",
    "Two years ago my husband had chest pain from a lung clot during a relapse. Is he more likely to "
    "get another one?",
    "Last year he had a fever of 40 after the infusion. Do reactions get milder with later doses?",
])
def test_a_red_flag_told_as_past_history_does_not_force_an_emergency(parse, text):
    assert RED_FLAG_OVERRIDE_KEY not in parse(text)


def test_the_collapsing_variant_is_pathology_not_fainting(parse):
    assert RED_FLAG_OVERRIDE_KEY not in parse("my husband has the collapsing type of fsgs, is it worse?")
    assert parse("my grandad collapsed in the kitchen")[RED_FLAG_OVERRIDE_KEY]


@pytest.mark.parametrize("text", [
    "my husband has chest pain right now",
    "my son coughed up blood",
    "I think I'm going to pass out",
    "she hasn't peed since yesterday",
    "my calf is swollen and painful",
    "I'm on tacrolimus and I have a high fever",
    "my daughter had a seizure",
])
def test_red_flags_force_emergency(parse, text):
    result = parse(text)
    assert result["intent"]["name"] == "emergency"
    assert result["intent"]["confidence"] == 1.0
    assert result[RED_FLAG_OVERRIDE_KEY]


@pytest.mark.parametrize("text", [
    "can fsgs cause chest pain?",
    "what are the signs of a blood clot in the leg",
    "why does nephrotic syndrome cause blood clots",
    "what temperature counts as a fever on steroids, is 38 too high?",
    "it is 40 degrees in Dubai in summer, is travel ok with fsgs?",
])
def test_general_questions_about_red_flags_are_not_overridden(parse, text):
    result = parse(text)
    assert RED_FLAG_OVERRIDE_KEY not in result
    assert result["intent"]["name"] not in ESCALATION


@pytest.mark.parametrize("text, canonical", [
    ("what are the side effects of CsA", "cyclosporine"),
    ("what is Prograf", "tacrolimus"),
    ("does pred cause weight gain", "prednisone"),
    ("what does losartan do for the kidneys", "arb"),
])
def test_medication_entities_carry_canonical_values(parse, text, canonical):
    values = {e["value"] for e in parse(text)["entities"] if e["entity"] == "medication"}
    assert values == {canonical}


@pytest.mark.parametrize("text", [
    "",
    "   ",
    "fsgs " * 2000,
    "a" * 10_000,
    "😀😀🙏",
    "¿Qué es la glomeruloesclerosis focal y segmentaria?",
    "什么是局灶节段性肾小球硬化",
    "ما هو مرض الكلى",
    '/emergency{"medication": "tacrolimus"}',
    '/personal_advice{"medication": "\'; DROP TABLE events; --"}',
    "/not_an_intent",
    "<script>alert(1)</script>",
])
def test_hostile_or_odd_input_does_not_crash(parse, text):
    result = parse(text)
    known = set(Domain.load(str(PROJECT_ROOT / "domain")).intent_properties) | {FALLBACK_INTENT}
    assert result["text"] == text.strip()
    assert result["intent"]["name"] in known and 0.0 <= result["intent"]["confidence"] <= 1.0
    # (Typed "/intent{...}" payloads are parsed by Rasa's RegexMessageHandler at this layer; the
    # channel guard neutralises them before they get here: tests/bot/channels/test_payloads.py.)


# Made-up words (checked against no dictionary: none is English, Hinglish or a drug name).
@pytest.mark.parametrize("text", [
    "flibber jabber quux",
    "zorbly snarfwick plomb",
    "the grimble of the wuzzle",
    "blorptastic frindle?",
    "qwzx vbnm plok",
    "asdfgh jkl",
])
def test_nonsense_is_not_understood(parse, text):
    result = parse(text)
    assert result["intent"]["name"] == FALLBACK_INTENT, result["intent"]

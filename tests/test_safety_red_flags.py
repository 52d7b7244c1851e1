"""The safety red-flag detector: bot/red_flags.yaml through bot/services/safety.py."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bot.services import safety
from bot.services.safety import (
    RedFlag,
    RedFlagAction,
    detect_red_flag,
    find_red_flags,
    load_rules,
    normalise,
)

CALL_999 = RedFlagAction.CALL_999
URGENT_111 = RedFlagAction.URGENT_111
SEVERE_HYPO = RedFlagAction.SEVERE_HYPO
SAME_DAY = RedFlagAction.SAME_DAY

# (rule, action, language, message): typed as people type them, typos and all.
POSITIVES: list[tuple[str, RedFlagAction, str, str]] = [
    # --- chest_pain
    ("chest_pain", CALL_999, "en", "I've got chest pain and feel sweaty"),
    ("chest_pain", CALL_999, "en", "pain in my chest since this morning"),
    ("chest_pain", CALL_999, "en", "my chest really hurts"),
    ("chest_pain", CALL_999, "en", "tight chest cant breathe properly"),
    ("chest_pain", CALL_999, "en", "crushing pain going down my left arm"),
    ("chest_pain", CALL_999, "hi", "मेरे सीने में दर्द हो रहा है"),
    ("chest_pain", CALL_999, "hi", "छाती में बहुत तेज़ दर्द है"),
    ("chest_pain", CALL_999, "hi", "सीना भारी लग रहा है"),
    ("chest_pain", CALL_999, "ur", "سینے میں درد ہو رہا ہے"),
    ("chest_pain", CALL_999, "ur", "میرے سینے میں بہت تکلیف ہے"),
    ("chest_pain", CALL_999, "ur", "لگتا ہے دل کا دورہ پڑ رہا ہے"),
    ("chest_pain", CALL_999, "roman", "mere seene mein bahut dard ho raha hai"),
    ("chest_pain", CALL_999, "roman", "chhati me dard hai subah se"),
    ("chest_pain", CALL_999, "roman", "seenay mein shadeed dard hai"),
    ("chest_pain", CALL_999, "roman", "chest mein dard ho raha"),
    # --- unconscious
    ("unconscious", CALL_999, "en", "I cant wake him up"),
    ("unconscious", CALL_999, "en", "my husband cannot be woken"),
    ("unconscious", CALL_999, "en", "mum won't wake up please help"),
    ("unconscious", CALL_999, "en", "dad collapsed and is not responding"),
    ("unconscious", CALL_999, "en", "she's fitting"),
    ("unconscious", CALL_999, "en", "he had a seizure just now"),
    ("unconscious", CALL_999, "hi", "पापा बेहोश हो गए हैं"),
    ("unconscious", CALL_999, "hi", "उन्हें होश नहीं आ रहा"),
    ("unconscious", CALL_999, "hi", "हम मम्मी को जगा नहीं पा रहे"),
    ("unconscious", CALL_999, "ur", "ابو بے ہوش ہو گئے ہیں"),
    ("unconscious", CALL_999, "ur", "امی کو ہوش نہیں آ رہا"),
    ("unconscious", CALL_999, "ur", "بیہوش ہو گئی ہیں"),
    ("unconscious", CALL_999, "roman", "papa behosh ho gaye"),
    ("unconscious", CALL_999, "roman", "ammi ko hosh nahi aa raha"),
    ("unconscious", CALL_999, "roman", "hum unko jaga nahi paye"),
    ("unconscious", CALL_999, "roman", "abbu jawab nahi de rahe"),
    # --- vomiting_high_sugar
    ("vomiting_high_sugar", URGENT_111, "en", "I've been vomiting all night and my sugar is 25"),
    ("vomiting_high_sugar", URGENT_111, "en", "throwing up and ketones are high"),
    ("vomiting_high_sugar", URGENT_111, "en", "being sick, keytones 2.1"),
    ("vomiting_high_sugar", URGENT_111, "en", "sick all night, blood sugar 22.5mmol"),
    ("vomiting_high_sugar", URGENT_111, "hi", "मुझे उल्टी हो रही है और शुगर बहुत ज़्यादा है"),
    ("vomiting_high_sugar", URGENT_111, "hi", "उल्टियां हो रही हैं, कीटोन भी है"),
    ("vomiting_high_sugar", URGENT_111, "hi", "शुगर ३०० है और उलटी आ रही है"),
    ("vomiting_high_sugar", URGENT_111, "ur", "الٹی ہو رہی ہے اور شوگر بہت زیادہ ہے"),
    ("vomiting_high_sugar", URGENT_111, "ur", "مسلسل قے آ رہی ہے اور کیٹون بھی ہیں"),
    ("vomiting_high_sugar", URGENT_111, "ur", "شوگر ۲۵ ہے، الٹیاں ہو رہی ہیں"),
    ("vomiting_high_sugar", URGENT_111, "roman", "meri sugar 25 hai aur ulti ho rahi hai"),
    ("vomiting_high_sugar", URGENT_111, "roman", "sugar bahut high hai aur ulti aa rahi"),
    ("vomiting_high_sugar", URGENT_111, "roman", "sugar bohat zyada hai aur qay aa rahi hai"),
    # --- severe_hypo
    ("severe_hypo", SEVERE_HYPO, "en", "had a hypo and my wife had to help me"),
    ("severe_hypo", SEVERE_HYPO, "en", "hypo ambulance came at 3am"),
    ("severe_hypo", SEVERE_HYPO, "en", "low sugar paramedics came"),
    ("severe_hypo", SEVERE_HYPO, "en", "needed glucagon last night"),
    ("severe_hypo", SEVERE_HYPO, "en", "my sugar dropped to 2.1 and my son had to feed me"),
    ("severe_hypo", SEVERE_HYPO, "hi", "रात को हाइपो हुआ, पत्नी को मदद करनी पड़ी"),
    ("severe_hypo", SEVERE_HYPO, "hi", "शुगर कम हो गई थी, एम्बुलेंस बुलानी पड़ी"),
    ("severe_hypo", SEVERE_HYPO, "hi", "शुगर 2.5 थी, बेटी ने मुंह में चीनी डाली"),
    ("severe_hypo", SEVERE_HYPO, "ur", "رات کو ہائپو ہوا اور ایمبولینس بلانی پڑی"),
    ("severe_hypo", SEVERE_HYPO, "ur", "شوگر کم ہو گئی تھی، بیٹے نے میری مدد کی"),
    ("severe_hypo", SEVERE_HYPO, "ur", "شوگر لو ہو گئی، خود سے ٹھیک نہیں کر پایا"),
    ("severe_hypo", SEVERE_HYPO, "roman", "hypo ho gaya ambulance bulani padi"),
    ("severe_hypo", SEVERE_HYPO, "roman", "raat ko sugar kam ho gayi biwi ko madad karni padi"),
    ("severe_hypo", SEVERE_HYPO, "roman", "sugar low ho gai thi khud sambhal nahi paya"),
    # --- foot_wound
    ("foot_wound", SAME_DAY, "en", "I have a blister on my foot"),
    ("foot_wound", SAME_DAY, "en", "there's a cut on my heel that wont heal"),
    ("foot_wound", SAME_DAY, "en", "my big toe has gone black"),
    ("foot_wound", SAME_DAY, "en", "ulcer on the bottom of my foot"),
    ("foot_wound", SAME_DAY, "en", "my foot is swollen and hot"),
    ("foot_wound", SAME_DAY, "hi", "मेरे पैर में घाव हो गया है"),
    ("foot_wound", SAME_DAY, "hi", "पैर का अंगूठा काला पड़ गया है"),
    ("foot_wound", SAME_DAY, "hi", "एड़ी पर छाला है और मवाद निकल रहा है"),
    ("foot_wound", SAME_DAY, "ur", "میرے پاؤں میں زخم ہے"),
    ("foot_wound", SAME_DAY, "ur", "پاؤں پر چھالا پڑ گیا ہے"),
    ("foot_wound", SAME_DAY, "ur", "ایڑی کالی پڑ گئی ہے"),
    ("foot_wound", SAME_DAY, "roman", "pair mein zakhm ho gaya hai"),
    ("foot_wound", SAME_DAY, "roman", "paon me zakham hai jo bhar nahi raha"),
    ("foot_wound", SAME_DAY, "roman", "paon me chhala pad gaya"),
    ("foot_wound", SAME_DAY, "roman", "pair ka angutha kala pad gaya hai"),
]


@pytest.mark.parametrize(
    ("rule", "action", "language", "message"),
    POSITIVES,
    ids=[f"{r}-{lang}-{i}" for i, (r, _, lang, _) in enumerate(POSITIVES)],
)
def test_red_flag_detected(rule: str, action: RedFlagAction, language: str, message: str) -> None:
    assert detect_red_flag(message) == RedFlag(rule, action)


def test_every_rule_has_two_examples_in_every_language() -> None:
    seen: dict[tuple[str, str], int] = {}
    for rule, _, language, _ in POSITIVES:
        seen[rule, language] = seen.get((rule, language), 0) + 1
    rules = {rule.id for rule in safety._default_rules()}
    for rule in rules:
        for language in ("en", "hi", "ur", "roman"):
            assert seen.get((rule, language), 0) >= 2, (rule, language)


NEGATIVES = [
    "what is a hypo?",
    "what should I do if I have a hypo",
    "can you help me understand hypos",
    "hypothetically, what if I miss a dose",
    "I have hypothyroidism",
    "my chest X-ray appointment is on Monday",
    "I bought new shoes for my feet",
    "I cut my toenails today",
    "my feet are sore after walking",
    "my feet are cold at night",
    "I have a shoe fitting for my feet on friday",
    "I was sick last week",
    "my sugar was 25 yesterday",
    "my sugar is 7.2 this morning",
    "I take metformin 500mg for sugar",
    "I check my sugar 3 times a day and my wife helps me",
    "the app is not responding",
    "dad said hi",
    "मुझे खाने के बारे में जानना है",
    "मेरी शुगर 6 है",
    "कल मुझे हाइपो हुआ था",
    "میری اپائنٹمنٹ کب ہے",
    "شوگر 7 ہے آج",
    "meri appointment kab hai",
    "mujhe sugar ke bare mein jaanna hai",
    "ulti aayi thi pichle hafte",
    "doctor ne sugar kam karne mein madad ki",
    "chai mein cheeni kam",
    "",
    "   ",
]


@pytest.mark.parametrize("message", NEGATIVES)
def test_ordinary_message_is_not_a_red_flag(message: str) -> None:
    assert detect_red_flag(message) is None


def test_word_boundaries_for_latin_phrases() -> None:
    # "hypo" matches "hypos" but not "hypothetical" (the ambulance is there in both).
    assert detect_red_flag("two hypos this week, ambulance came once") == RedFlag(
        "severe_hypo", SEVERE_HYPO
    )
    assert detect_red_flag("hypothetically, when should I call an ambulance") is None


def test_the_most_urgent_rule_wins() -> None:
    message = "had a hypo and collapsed, my wife had to help me"
    assert detect_red_flag(message) == RedFlag("unconscious", CALL_999)
    assert [f.rule for f in find_red_flags(message)] == ["unconscious", "severe_hypo"]

    message = "been vomiting, sugar is 28, and there's a blister on my heel"
    assert detect_red_flag(message) == RedFlag("vomiting_high_sugar", URGENT_111)
    assert [f.action for f in find_red_flags(message)] == [URGENT_111, SAME_DAY]


def test_vomiting_alone_or_high_sugar_alone_is_not_dka() -> None:
    assert detect_red_flag("I've been vomiting since last night") is None
    assert detect_red_flag("my sugar is 25 today") is None
    assert detect_red_flag("I've been vomiting, sugar is 25") == RedFlag(
        "vomiting_high_sugar", URGENT_111
    )


def test_glucose_numbers_respect_ranges_and_units() -> None:
    assert detect_red_flag("throwing up, sugar 12") is None  # below the high range
    assert detect_red_flag("throwing up, sugar 13") is not None
    assert detect_red_flag("throwing up, sugar 350") is not None  # mg/dL
    assert detect_red_flag("throwing up, 25 mmol") is not None
    assert detect_red_flag("throwing up, I check my sugar 20 times a day") is None
    assert detect_red_flag("sugar 3.2 and paramedics came") == RedFlag("severe_hypo", SEVERE_HYPO)
    assert detect_red_flag("sugar 5.5 and paramedics came") is None


@pytest.mark.parametrize(
    ("message", "rule"),
    [
        # Arabic-keyboard yeh/kaf/heh for Urdu ی/ک/ہ
        ("بيهوش هو گئے هيں", "unconscious"),
        ("سينے ميں درد هے", "chest_pain"),
        ("الٹي هو رهي هے اور كيٹون بهي هيں", "vomiting_high_sugar"),
        ("ابو بى ہوش ہیں", "unconscious"),  # alef maksura
        # harakat, tatweel and zero-width joiners/non-joiners
        ("بَے ہُوش ہو گئے", "unconscious"),
        ("سیـــنے میں درد", "chest_pain"),
        ("بے\u200cہوش", "unconscious"),
        ("बे\u200bहोश", "unconscious"),
        # nukta and chandrabindu
        ("उल्टी हो रही है, शुगर बहुत ज्यादा है", "vomiting_high_sugar"),
        ("साँस नहीं ले रहे", "unconscious"),
    ],
)
def test_script_variants_still_match(message: str, rule: str) -> None:
    flag = detect_red_flag(message)
    assert flag is not None and flag.rule == rule


def test_normalise() -> None:
    assert normalise("  Can't   WAKE him!!! ") == "cant wake him"
    assert normalise("sugar 18.5, ketones 3,2") == "sugar 18.5 ketones 3.2"
    assert normalise("A&E") == "a e"
    assert normalise("ज़्यादा") == normalise("ज्यादा")
    assert normalise("मुँह") == normalise("मुंह")
    assert normalise("كيٹون") == normalise("کیٹون")
    assert normalise("بيهوش") == normalise("بیہوش")
    assert normalise("شوگر ۲۵") == "شوگر 25"
    assert normalise("शुगर ३००") == "शुगर 300"
    assert normalise("a\u200bb\u2066c\ufeffd") == "abcd"


def test_default_rules_are_loaded_once_and_cover_every_action() -> None:
    rules = safety._default_rules()
    assert rules is safety._default_rules()
    assert {r.id: r.action for r in rules} == {
        "chest_pain": CALL_999,
        "unconscious": CALL_999,
        "vomiting_high_sugar": URGENT_111,
        "severe_hypo": SEVERE_HYPO,
        "foot_wound": SAME_DAY,
    }
    assert [r.action for r in rules] == sorted(
        (r.action for r in rules), key=safety.ACTION_PRIORITY.index
    )


def test_every_group_has_phrases_in_every_language_and_script() -> None:
    for rule in safety._default_rules():
        for group in rule.groups:
            for language in safety.LANGUAGES:
                assert group.count(language) >= 8, (rule.id, group.name, language)
            for language, native in (("hi", "devanagari"), ("ur", "arabic")):
                scripts = {
                    "latin" if p.source.isascii() else native
                    for p in group.phrases
                    if p.language == language
                }
                assert scripts == {"latin", native}, (rule.id, group.name, language)


# --------------------------------------------------------------------------- validation

VALID_HEADER = """\
version: 1
matching:
  gap_max_words: 3
  latin_suffixes: [s]
numbers:
  high_glucose:
    ranges: [[13, 35]]
rules:
"""


def _write(tmp_path: Path, rules: str) -> Path:
    path = tmp_path / "red_flags.yaml"
    path.write_text(VALID_HEADER + textwrap.indent(textwrap.dedent(rules), "  "), "utf-8")
    return path


def test_load_rules_accepts_a_small_valid_file(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """\
        - id: tiny
          action: same_day
          groups:
            - name: things
              phrases:
                en: [blister]
                hi: [छाला, chhala]
                ur: [چھالا]
            - name: numbers
              phrases:
                en: [sugar <gap> <high_glucose>]
        """,
    )
    rules = load_rules(path)
    assert [r.id for r in rules] == ["tiny"]
    assert detect_red_flag("blisters and my sugar was 20", rules=rules) == RedFlag("tiny", SAME_DAY)
    assert detect_red_flag("blisters and my sugar was 9", rules=rules) is None
    assert detect_red_flag("چھالا ہے، sugar 14", rules=rules) == RedFlag("tiny", SAME_DAY)


@pytest.mark.parametrize(
    ("rule_yaml", "message"),
    [
        (
            """\
            - id: bad_action
              action: call_998
              groups:
                - {name: g, phrases: {en: [chest pain]}}
            """,
            r"rule 'bad_action': unknown action 'call_998'",
        ),
        (
            """\
            - id: empty_list
              action: call_999
              groups:
                - {name: g, phrases: {en: []}}
            """,
            r"rule 'empty_list'.*empty phrase list for language 'en'",
        ),
        (
            """\
            - id: bad_language
              action: call_999
              groups:
                - {name: g, phrases: {pa: [ਛਾਤੀ ਦਰਦ]}}
            """,
            r"rule 'bad_language'.*unknown language 'pa'",
        ),
        (
            """\
            - id: wrong_script
              action: call_999
              groups:
                - {name: g, phrases: {hi: [سینے میں درد]}}
            """,
            r"rule 'wrong_script'.*arabic script is not allowed under 'hi'",
        ),
        (
            """\
            - id: bad_placeholder
              action: call_999
              groups:
                - {name: g, phrases: {en: [sugar <very_high>]}}
            """,
            r"rule 'bad_placeholder'.*unknown placeholder <very_high>",
        ),
        (
            """\
            - id: bare_number
              action: call_999
              groups:
                - {name: g, phrases: {en: [999]}}
            """,
            r"rule 'bare_number'.*quote numbers",
        ),
        (
            """\
            - id: unbalanced
              action: call_999
              groups:
                - {name: g, phrases: {en: [(chest pain]}}
            """,
            r"rule 'unbalanced'.*unbalanced",
        ),
        (
            """\
            - id: no_groups
              action: call_999
            """,
            r"rule 'no_groups': 'groups' must be a non-empty list",
        ),
    ],
)
def test_load_rules_rejects_a_bad_rule(tmp_path: Path, rule_yaml: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_rules(_write(tmp_path, rule_yaml))


def test_load_rules_rejects_duplicate_ids(tmp_path: Path) -> None:
    rule = """\
        - id: twice
          action: same_day
          groups:
            - {name: g, phrases: {en: [ulcer]}}
        """
    with pytest.raises(ValueError, match=r"rule 'twice': duplicate rule id"):
        load_rules(_write(tmp_path, textwrap.dedent(rule) * 2))

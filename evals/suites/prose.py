"""The ``prose`` suite: rule features of English prose, measured on the ``prose`` corpus.

The same kind of feature as the ``rules`` suite (:mod:`.rules`): each `Rule` is a
pure function of a window's token strings, read through the character view
(:class:`~mechanic.evals.token_text.TokenText`), with its true description and two
decoys — plausible wrong descriptions that are true of other tokens of English text.
Where ``rules`` is about code and its documentation, these are about sentences:

* word classes — pronouns, articles, determiners, prepositions, conjunctions, the
  verbs be/have/do, modal verbs, adverbs in -ly, question words;
* semantic categories — colours, body parts, family, people, feelings, animals, food,
  times of day, life and death;
* numbers and dates — digits, years, number words, ordinals, months and weekdays;
* sentence position — the first word of a sentence, the word before its full stop,
  the words of a question;
* quotes and dialogue — inside double quotes, the ``-- Author`` attribution line,
  the possessive 's, contractions;
* negation; names — capitalised words inside a sentence, first names;
* context — the word after "the", after "to", after "I".

Word lists are written for this suite from general English, not taken from any
benchmark's puzzles. Levels are 1.0 where a rule fires and 0 elsewhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np

from ..token_text import LETTER_WORD, NUMBER, SENTENCE_END, TokenText
from . import _contextual as ctx
from . import _lexical as lex
from .rules import Rule

__all__ = ["PROSE_RULES", "WORD_LISTS"]


def _token(name: str, description: str, decoys: tuple[str, str], fn) -> Rule:
    return Rule(name, "token-level", description, decoys, fn)


def _context(name: str, description: str, decoys: tuple[str, str], fn) -> Rule:
    return Rule(name, "context-level", description, decoys, fn)


# ------------------------------------------------------------------ word lists


def _set(words: str) -> frozenset[str]:
    return frozenset(words.split())


_SECOND_PERSON = _set("you your yours yourself yourselves thou thee thy thine ye")
_POSSESSIVES = _set("my your his her its our their thy")
_INDEFINITE = _set("a an")
_DEMONSTRATIVES = _set("this that these those")
_PREPOSITIONS = _set("of in on at by with from for into onto upon about above below under over through "
                     "between among against without within after before during across toward towards behind "
                     "beyond beneath beside near since until till around along throughout")
_CONJUNCTIONS = _set("and but or nor")
_BE_HAVE_DO = _set("am is are was were be been being has have had having do does did")
_MODALS = _set("can could will would shall should may might must")
_WH_WORDS = _set("what who whom whose which when where why how")
# words in -ly that are not adverbs (nouns, adjectives, names)
_NOT_LY_ADVERBS = _set("family reply supply apply comply rely fly butterfly july italy holy ugly silly lovely "
                       "friendly lonely jelly belly bully rally ally assembly anomaly monopoly lily billy sally "
                       "molly polly emily daily weekly monthly yearly likely early elderly costly deadly "
                       "curly oily hilly smelly chilly jolly folly melancholy homely orderly manly womanly "
                       "worldly heavenly kindly lively lowly unlikely")
_COLOURS = _set("red yellow green blue purple violet pink brown black white grey gray scarlet crimson azure "
                "golden orange colour colours color colors coloured colored")
_BODY = _set("head heads face faces hair eye eyes ear ears nose noses mouth mouths lip lips tongue tooth teeth "
             "neck throat shoulder shoulders arm arms hand hands finger fingers thumb thumbs fist fists chest "
             "breast breasts heart hearts belly stomach leg legs knee knees foot feet toe toes skin blood bone "
             "bones brain brains cheek cheeks chin forehead elbow elbows wrist ankle hip hips lap heel heels "
             "body bodies")
_FAMILY = _set("mother mothers mom moms mum mama father fathers dad dads daddy papa parent parents son sons "
               "daughter daughters brother brothers sister sisters wife wives husband husbands uncle uncles "
               "aunt aunts cousin cousins grandmother grandfather grandma grandpa grandson granddaughter "
               "nephew niece twin twins relatives")
_PEOPLE = _set("man men woman women person persons people boy boys girl girls child children kid kids "
               "lady ladies gentleman gentlemen guy guys fellow fellows folks human humans adult adults "
               "youth")
_FEELINGS = _set("love loves loved hate hates hated fear fears feared afraid joy joys anger angry happy "
                 "happiness unhappy sad sadness sorrow sorrows grief despair hope hopes hoped lonely jealous "
                 "envy pride proud shame ashamed guilt guilty delight delighted glad cheerful miserable "
                 "misery worry worried worries scared terror rage fury bored boredom passion")
_ANIMALS = _set("dog dogs cat cats horse horses cow cows pig pigs sheep goat goats mouse mice rat rats rabbit "
                "rabbits bears wolf wolves fox foxes lion lions tiger tigers elephant elephants monkey monkeys "
                "ape apes snake snakes bird birds fish fishes duck ducks hen hens goose geese owl owls eagle "
                "crow crows sparrow pigeon frog frogs toad bee bees ant ants spider spiders worm worms cattle "
                "donkey mule camel whale whales shark dolphin squirrel beaver turtle lamb lambs calf puppy "
                "kitten ox oxen chicken chickens beast beasts animal animals")
_FOOD = _set("bread cheese butter meat beef pork ham bacon sausage egg eggs sugar salt pepper soup cake cakes "
             "pie pies cookie cookies biscuit apple apples banana bananas lemon lemons fruit vegetables potato "
             "potatoes tomato tomatoes rice beans corn pizza sandwich sandwiches steak toast jam honey "
             "chocolate candy pasta noodles carrot carrots onion onions grapes cherry cherries pudding "
             "cereal salad hamburger breakfast lunch dinner supper meal meals food foods "
             "wine beer coffee tea milk whiskey whisky gin rum vodka juice drink drinks drinking drank drunk "
             "eat eats eating ate eaten")
_TIMES = _set("morning mornings noon afternoon afternoons evening evenings night nights midnight dawn dusk "
              "sunrise sunset tonight today yesterday tomorrow")
_LIFE_DEATH = _set("life lives live lived living alive die dies died dying death deaths dead born birth "
                   "grave graves funeral immortal mortal")
_NUMBER_WORDS = _set("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
                     "fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy "
                     "eighty ninety hundred hundreds thousand thousands million millions billion billions dozen")
_ORDINALS = _set("first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth "
                 "thirteenth twentieth thirtieth hundredth thousandth")
_ORDINAL_DIGITS = re.compile(r"(?<![\w.])\d*(?:1st|2nd|3rd|[04-9]th|1[1-3]th)(?!\w)")
# given names, capitalised only: no word that is also a common English word (Will, Mark, Rose, Bill)
_FIRST_NAMES = _set("John Mary George James William Henry Charles Thomas Robert Richard Edward David Michael "
                    "Peter Paul Jack Tom Joe Jim Harry Fred Frank Sam Ben Oscar Benjamin Albert Winston Woody "
                    "Samuel Abraham Isaac Ralph Walter Arthur Oliver Alfred Francis Lewis Ambrose Anne Ann "
                    "Elizabeth Jane Sarah Susan Margaret Alice Helen Emily Ruth Kate Sally Lucy Nancy Betty "
                    "Dorothy Linda Barbara Martha Emma Julia Mae Groucho Isaiah Moses Jesus Mohammed "
                    "Friedrich Johann Voltaire Mahatma Bertrand Leo Mike Steve Dave Bob Dick Larry")
# the 's of these is a contraction (it's = it is), not a possessive
_CLITIC_S_HOSTS = _set("it he she that what there here who where how let")
# capitalised abbreviations whose full stop does not end a sentence
_ABBREVIATIONS = _set("mr mrs ms dr st jr sr vs etc prof rev gen col capt sgt lt no")


def _cased(word: str) -> bool:
    """Lower case, Capitalised or ALL CAPS: a word as prose writes it (not mIxEd)."""
    return word in (word.lower(), word.capitalize(), word.upper())


def _word_set(words: frozenset[str]):
    def fn(tokens: Sequence[str]) -> np.ndarray:
        return lex.word_rule(tokens, LETTER_WORD, lambda w, s, x: 1.0 if w.lower() in words and _cased(w) else 0.0)
    return fn


def _spans(tokens: Sequence[str], spans: Iterable[tuple[int, int]]) -> np.ndarray:
    t = TokenText(tokens)
    for start, end in spans:
        t.mark_span(start, end)
    return t.acts


def _prev_visible(text: str, pos: int) -> int:
    """Index of the last character before ``pos`` that is not a space (-1 if none)."""
    k = pos - 1
    while k >= 0 and text[k] == " ":
        k -= 1
    return k


# ------------------------------------------------------------ token-level rules


def indefinite_articles(tokens: Sequence[str]) -> np.ndarray:
    """a / an; not a capital A used as a label or an initial (A: ..., A. Smith)."""
    def level(word, start, text):
        if word.lower() not in _INDEFINITE or not _cased(word):
            return 0.0
        after = text[start + len(word):start + len(word) + 1]
        return 0.0 if word == "A" and after in (".", ":", ")") else 1.0
    return lex.word_rule(tokens, LETTER_WORD, level)


def modal_verbs(tokens: Sequence[str]) -> np.ndarray:
    """can, will, may ...; May only mid-sentence in lower case (capitalised it is the month)."""
    return lex.word_rule(tokens, LETTER_WORD,
                         lambda w, s, x: 1.0 if w.lower() in _MODALS and _cased(w) and w != "May" else 0.0)


def ly_adverbs(tokens: Sequence[str]) -> np.ndarray:
    def level(word, start, text):
        w = word.lower()
        return 1.0 if (len(w) >= 4 and w.endswith("ly") and w[1:].islower() and w not in _NOT_LY_ADVERBS) else 0.0
    return lex.word_rule(tokens, LETTER_WORD, level)


def digit_numbers(tokens: Sequence[str]) -> np.ndarray:
    return lex.regex_rule(tokens, NUMBER)


_YEAR = re.compile(r"(?<![\w.,$])(?:1[0-9]|20)\d\d(?![\w.,]\d|\w)")


def years(tokens: Sequence[str]) -> np.ndarray:
    """Four digits from 1000 to 2099 standing alone (not part of 1,234 or 12.345)."""
    return lex.regex_rule(tokens, _YEAR)


def ordinals(tokens: Sequence[str]) -> np.ndarray:
    t = TokenText(tokens)
    for m in LETTER_WORD.finditer(t.text):
        if m.group().lower() in _ORDINALS and _cased(m.group()):
            t.mark_span(m.start(), m.end())
    for m in _ORDINAL_DIGITS.finditer(t.text):
        t.mark_span(m.start(), m.end())
    return t.acts


def months_and_days(tokens: Sequence[str]) -> np.ndarray:
    return np.maximum(lex.month_names(tokens), lex.day_names(tokens))


def first_names(tokens: Sequence[str]) -> np.ndarray:
    return lex.word_rule(tokens, LETTER_WORD, lambda w, s, x: 1.0 if w in _FIRST_NAMES else 0.0)


_APOSTROPHE = "['\u2019]"
_CLITIC = re.compile(rf"(?<=[A-Za-z])({_APOSTROPHE}(?:s|m|re|ve|ll|d))(?![A-Za-z])", re.IGNORECASE)


def _clitics(tokens: Sequence[str], possessive: bool) -> np.ndarray:
    """The 's, 'm, 're, 've, 'll, 'd glued to a word: with ``possessive`` the 's of a
    noun or name; without, every contraction (a pronoun's 's, 'm, 're ...)."""
    t = TokenText(tokens)
    for m in _CLITIC.finditer(t.text):
        host = re.search(r"[A-Za-z]+$", t.text[:m.start()]).group().lower()
        is_s = m.group(1)[1:].lower() == "s"
        owned = is_s and host not in _CLITIC_S_HOSTS
        if owned == possessive:
            t.mark_span(m.start(1), m.end(1))
    return t.acts


def possessive_s(tokens: Sequence[str]) -> np.ndarray:
    return _clitics(tokens, possessive=True)


def contractions(tokens: Sequence[str]) -> np.ndarray:
    return _clitics(tokens, possessive=False)


# ------------------------------------------------------------ context-level rules


def _sentence_ends(text: str) -> list[re.Match]:
    """The . ! ? that end a sentence: not the full stop of an abbreviation (Mr.) or of
    an initial (J., U.N.)."""
    ends = []
    for m in SENTENCE_END.finditer(text):
        if m.group() == ".":
            word = re.search(r"(?<![\w.])[A-Za-z]+$|[A-Za-z]\.[A-Za-z]$", text[:m.start()])
            if word and (len(word.group()) == 1 or "." in word.group() or word.group().lower() in _ABBREVIATIONS):
                continue
        ends.append(m)
    return ends


def _sentence_starts(text: str) -> list[int]:
    """Where sentences begin inside the window: after a sentence end and whitespace, and
    after a blank line (a new paragraph or entry); not the window's start (unknown)."""
    starts = [m.end() for m in _sentence_ends(text)]
    starts += [m.end() for m in re.finditer(r"\n[ \t]*\n", text)]
    return sorted(set(starts))


_FIRST_WORD = re.compile(r"[\"'\u201c(\[\s]*([A-Za-z]+)")


def sentence_first_word(tokens: Sequence[str]) -> np.ndarray:
    t = TokenText(tokens)
    spans = []
    for pos in _sentence_starts(t.text):
        m = _FIRST_WORD.match(t.text, pos)
        if m and (pos == len(t.text) or t.text[pos].isspace() or pos == m.start(1)):
            spans.append((m.start(1), m.end(1)))
    return _spans(tokens, spans)


def word_before_full_stop(tokens: Sequence[str]) -> np.ndarray:
    """The word a sentence-ending full stop follows; not an abbreviation (Mr.) or an
    initial (J.)."""
    t = TokenText(tokens)
    spans = []
    for m in _sentence_ends(t.text):
        word = re.search(r"(?<![\w.])[A-Za-z]+$", t.text[:m.start()])
        if m.group() == "." and word:
            spans.append((word.start(), word.end()))
    return _spans(tokens, spans)


def question_words_of_sentence(tokens: Sequence[str]) -> np.ndarray:
    """Every word (letters or digits) of a sentence that ends with a question mark."""
    t = TokenText(tokens)
    starts = [0] + _sentence_starts(t.text)
    spans = []
    for m in _sentence_ends(t.text):
        if m.group() != "?":
            continue
        begin = max(s for s in starts if s <= m.start())
        spans.extend((w.start(), w.end()) for w in re.compile(r"[A-Za-z0-9]+").finditer(t.text, begin, m.start()))
    return _spans(tokens, spans)


def inside_double_quotes(tokens: Sequence[str]) -> np.ndarray:
    """The text between an opening double quote (after a blank, a bracket or the
    window's start, before a non-blank) and the next closing one; a closing quote with
    no opening one in the window (the quotation began earlier) opens nothing, and a
    pair does not span a blank line."""
    t = TokenText(tokens)
    text = t.text
    chars = np.zeros(len(text), dtype=np.float32)
    opened = None
    for pos, ch in enumerate(text):
        if ch not in "\"\u201c\u201d":
            continue
        before = text[pos - 1] if pos else " "
        after = text[pos + 1] if pos + 1 < len(text) else " "
        if opened is None:
            if ch != "\u201d" and (before.isspace() or before in "([-") and not after.isspace():
                opened = pos
        elif ch != "\u201c" and not before.isspace():
            if not re.search(r"\n[ \t]*\n", text[opened:pos]):
                chars[opened + 1:pos] = [0.0 if c.isspace() else 1.0 for c in text[opened + 1:pos]]
            opened = None
    t.mark_levels(chars)
    return t.acts


_ATTRIBUTION = re.compile(r"(?m)^[ \t]+--[ \t]*([^\n]*\S)")


def attribution(tokens: Sequence[str]) -> np.ndarray:
    """What follows a ``--`` opening an indented line: who said it, and where."""
    t = TokenText(tokens)
    for m in _ATTRIBUTION.finditer(t.text):
        chars = np.zeros(len(t.text), dtype=np.float32)
        for pos in range(m.start(1), m.end(1)):
            chars[pos] = 0.0 if t.text[pos].isspace() else 1.0
        t.mark_levels(chars)
    return t.acts


def capitalised_mid_sentence(tokens: Sequence[str]) -> np.ndarray:
    """A Capitalised word (not I, not ALL CAPS) that neither starts a sentence nor a line
    (nor a column of verse after a tab), nor follows a colon or an opening quote."""
    def level(word, start, text):
        if len(word) < 2 or not (word[0].isupper() and word[1:].islower()):
            return 0.0
        k = _prev_visible(text, start)
        return 0.0 if k < 0 or text[k] in "\t\n.!?:\"'\u201c(" else 1.0
    return lex.word_rule(tokens, LETTER_WORD, level)


def _after(word: str):
    anchor = re.compile(rf"(?<![\w'\u2019]){word}(?![\w'\u2019])", re.IGNORECASE)

    def fn(tokens: Sequence[str]) -> np.ndarray:
        return ctx.word_after(tokens, anchor)
    return fn


def after_i(tokens: Sequence[str]) -> np.ndarray:
    """The word after the pronoun I (capital, not the I of I/O)."""
    return ctx.word_after(tokens, re.compile(r"(?<![\w'/\u2019])I(?![\w'/\u2019])"))


# ------------------------------------------------------------------ the suite

PROSE_RULES: tuple[Rule, ...] = (
    # ---- word classes
    _token("second_person_pronouns", "second-person pronouns (you, your, yourself; thou, thee)",
           ("first-person pronouns (I, me, we, our)", "third-person pronouns (he, she, they, them)"),
           _word_set(_SECOND_PERSON)),
    _token("possessive_determiners", "possessive words before a noun (my, your, his, her, its, our, their)",
           ("personal pronouns as subjects (I, he, she, they)", "the articles a, an and the"),
           _word_set(_POSSESSIVES)),
    _token("indefinite_articles", "the indefinite articles a and an",
           ("the definite article the", "the number word one"), indefinite_articles),
    _token("demonstratives", "the demonstratives this, that, these and those",
           ("the articles a, an and the", "question words (what, which, who)"), _word_set(_DEMONSTRATIVES)),
    _token("prepositions", "prepositions (of, in, on, with, from, about)",
           ("conjunctions (and, but, or, because)", "the articles a, an and the"), _word_set(_PREPOSITIONS)),
    _token("and_but_or", "the conjunctions and, but, or and nor",
           ("prepositions (of, in, with)", "commas and semicolons"), _word_set(_CONJUNCTIONS)),
    _token("be_have_do", "forms of the verbs be, have and do (is, was, are, has, had, did)",
           ("modal verbs (can, will, would, must)", "past-tense verbs ending in -ed"), _word_set(_BE_HAVE_DO)),
    _token("modal_verbs", "modal verbs (can, could, will, would, should, must, may)",
           ("forms of the verbs be and have (is, was, has)", "negation words (not, never)"), modal_verbs),
    _token("ly_adverbs", "adverbs ending in -ly (only, really, quickly, finally)",
           ("adjectives (good, great, small)", "words ending in -ing"), ly_adverbs),
    _token("wh_words", "question words (what, who, which, when, where, why, how)",
           ("the demonstratives this, that, these and those", "the conjunctions if and because"),
           _word_set(_WH_WORDS)),
    # ---- semantic categories
    _token("colours", "colour words (red, blue, green, black, white; colour itself)",
           ("words about light and darkness (bright, dark, shine)", "words describing size (big, small, tall)"),
           _word_set(_COLOURS)),
    _token("body_parts", "parts of the body (hand, eyes, head, heart, feet)",
           ("items of clothing (hat, shoe, coat)", "general words for people (man, woman, child)"),
           _word_set(_BODY)),
    _token("family_members", "family relations (mother, father, wife, son, sister)",
           ("general words for people (man, woman, child)", "words for friends and lovers (friend, lover)"),
           _word_set(_FAMILY)),
    _token("people_words", "general words for people (man, woman, people, child, girl)",
           ("family relations (mother, brother, wife)", "jobs and professions (doctor, teacher, lawyer)"),
           _word_set(_PEOPLE)),
    _token("feelings", "words for emotions and feelings (love, fear, joy, anger, hope)",
           ("words about thinking and knowing (think, know, believe)", "words about life and death (live, die)"),
           _word_set(_FEELINGS)),
    _token("animals", "names of animals (dog, cat, horse, bird, fish)",
           ("kinds of food (bread, cheese, meat)", "names of plants and trees (rose, oak, grass)"),
           _word_set(_ANIMALS)),
    _token("food_and_drink", "food and drink, eating and drinking (bread, cheese, dinner, wine, coffee, eat)",
           ("names of animals (dog, horse, bird)", "kitchen things (pot, plate, oven, spoon)"), _word_set(_FOOD)),
    _token("times_of_day", "times of day and nearby days (morning, night, noon, today, tomorrow)",
           ("days of the week (Monday, Friday)", "units of time (minute, hour, year)"), _word_set(_TIMES)),
    _token("life_and_death", "words about life and death (life, live, die, death, born, dead)",
           ("words about illness and medicine (sick, doctor, pain)", "words about time and age (year, old, age)"),
           _word_set(_LIFE_DEATH)),
    # ---- numbers and dates
    _token("digit_numbers", "numbers written in digits (2, 10, 1984)",
           ("numbers spelled out as words (one, two, ten)", "single capital letters used as initials"),
           digit_numbers),
    _token("years", "years written in digits (1776, 1969, 2001)",
           ("small numbers of one or two digits (3, 12, 42)", "names of months"), years),
    _token("number_words", "numbers spelled out as words (one, two, ten, hundred)",
           ("numbers written in digits (1, 2, 10)", "ordinal words (first, second, third)"),
           _word_set(_NUMBER_WORDS)),
    _token("ordinals", "ordinal numbers (first, second, third, 21st)",
           ("numbers spelled out as words (one, two, three)", "superlatives (best, greatest, last)"), ordinals),
    _token("months_and_days", "names of months and days of the week (March, Friday)",
           ("times of day (morning, evening, night)", "names of seasons and holidays (summer, Christmas)"),
           months_and_days),
    # ---- sentence position
    _context("sentence_first_word", "the first word of a sentence",
             ("the last word of a sentence, before its full stop", "capitalised names in the middle of a sentence"),
             sentence_first_word),
    _context("word_before_full_stop", "the last word of a sentence, right before its full stop",
             ("the first word of a sentence", "the word right before a comma"), word_before_full_stop),
    _context("question_sentences", "the words of a question (a sentence ending in a question mark)",
             ("question words (what, why, how)", "the words of an exclamation (a sentence ending in !)"),
             question_words_of_sentence),
    # ---- quotes and dialogue
    _context("inside_double_quotes", "words inside double quotation marks (quoted speech, titles)",
             ("words inside parentheses", "the attribution after -- at the end of a quotation"),
             inside_double_quotes),
    _context("attribution", "the attribution after a quotation: the author's name and source after '--'",
             ("words inside double quotation marks", "the first word of a line of verse"), attribution),
    _token("possessive_s", "the possessive 's after a noun or name (John's, the world's)",
           ("contractions such as it's, I'm and you'll", "plural nouns ending in -s"), possessive_s),
    _token("contractions", "contractions of am, are, have, will, would and is ('m, 're, 've, 'll, 'd, it's)",
           ("the possessive 's after a noun or name", "negations ending in n't (don't, can't)"), contractions),
    # ---- negation
    _token("negations", "negation words (not, no, never, nothing, n't)",
           ("words of doubt such as maybe and perhaps", "the conjunctions but and yet"), lex.negation_words),
    # ---- names
    _context("capitalised_mid_sentence", "capitalised words in the middle of a sentence, mostly names",
             ("the first word of a sentence", "words written in all capitals"), capitalised_mid_sentence),
    _token("first_names", "people's first names (John, Mary, George, Oscar)",
           ("surnames (Smith, Twain, Wilde)", "names of places (London, France, America)"), first_names),
    # ---- context: the word before
    _context("word_after_the", "the word right after 'the' (usually a noun or adjective)",
             ("the word 'the' itself", "the word right after 'a' or 'an'"), ctx.after_the),
    _context("word_after_to", "the word right after 'to' (a verb in 'to go', a noun in 'to town')",
             ("the word 'to' itself", "the word right before 'to'"), _after("to")),
    _context("word_after_i", "the word right after the pronoun I (am, think, have)",
             ("the pronoun I itself", "the word right after 'you'"), after_i),
)

# the word list behind each rule that is one (lower case), to compare with other word lists
WORD_LISTS: dict[str, frozenset[str]] = {
    "second_person_pronouns": _SECOND_PERSON, "possessive_determiners": _POSSESSIVES, "demonstratives": _DEMONSTRATIVES,
    "prepositions": _PREPOSITIONS, "and_but_or": _CONJUNCTIONS, "be_have_do": _BE_HAVE_DO, "modal_verbs": _MODALS,
    "wh_words": _WH_WORDS, "colours": _COLOURS, "body_parts": _BODY, "family_members": _FAMILY,
    "people_words": _PEOPLE, "feelings": _FEELINGS, "animals": _ANIMALS, "food_and_drink": _FOOD,
    "times_of_day": _TIMES, "life_and_death": _LIFE_DEATH, "number_words": _NUMBER_WORDS, "ordinals": _ORDINALS,
    "first_names": frozenset(w.lower() for w in _FIRST_NAMES),
}

if len({rule.name for rule in PROSE_RULES}) != len(PROSE_RULES):  # pragma: no cover - a typo in the table above
    raise RuntimeError("duplicate rule names in PROSE_RULES")

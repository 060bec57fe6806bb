"""Word lists for the training library's prose families: semantic categories of
English words and closed word classes.

Chosen apart from the bench suites' concepts (months, days, colours, first-person
pronouns, negation words, 'the' ...); `library` also drops any rule whose
description lands near a bench rule or decoy, by embedding similarity.
"""

# name -> (description, words), as in `_words.CATEGORIES`: semantic fields of everyday English prose.
SEMANTIC: dict[str, tuple[str, str]] = {
    "fruit_veg": ("fruit and vegetables", "apple apples banana bananas orange pear pears grape grapes cherry "
                  "lemon peach plum melon potato potatoes tomato tomatoes carrot carrots onion onions cabbage "
                  "bean beans pea peas lettuce"),
    "food": ("food and dishes", "bread cheese butter meat beef pork bacon soup cake cakes pie pizza rice "
             "pasta sandwich egg eggs salad steak sausage dinner breakfast lunch supper meal"),
    "time_of_day": ("parts of the day", "morning mornings noon afternoon evening evenings night nights "
                    "midnight dawn dusk sunrise sunset daytime tonight"),
    "seasons": ("seasons of the year", "spring summer autumn winter fall springtime midsummer wintertime"),
    "royalty": ("kings, queens and nobility", "king kings queen queens prince princes princess duke duchess "
                "emperor empire throne crown royal lord baron knight knights"),
    "myth": ("myth and magic", "dragon dragons wizard wizards witch witches ghost ghosts angel angels devil "
             "demon fairy giant giants monster monsters magic spell curse"),
    "birds_insects": ("birds and insects", "sparrow crow raven robin swan goose pigeon parrot hawk "
                      "butterfly moth fly flies beetle mosquito wasp worm bug"),
    "plants": ("plants and flowers", "flower flowers rose roses grass leaf leaves seed seeds bush weed "
               "weeds tulip lily daisy oak pine vine root roots"),
    "death": ("death and dying", "death dead die dies died dying grave graves funeral corpse tomb "
              "mortal killed kill murderer coffin"),
    "love": ("love and romance", "love loved lover lovers kiss kissed romance romantic darling sweetheart "
             "marriage married wedding bride heart"),
    "wisdom": ("wisdom and folly", "wise wisdom fool fools foolish folly wit clever stupid stupidity "
               "genius idiot ignorance knowledge truth"),
    "virtue_vice": ("virtues and vices", "virtue virtues vice vices sin sins honest honesty greed pride "
                    "courage patience mercy lust envy sloth justice kindness"),
    "sleep_dream": ("sleep and dreams", "sleep sleeps slept sleeping asleep dream dreams dreamed bed "
                    "nightmare awake wake woke yawn nap"),
    "size_adjectives": ("adjectives of size", "big small large little huge tiny enormous giant vast "
                        "narrow wide tall short thin thick"),
    "evaluative": ("words judging good or bad", "good bad great terrible awful wonderful excellent "
                   "horrible fine nice lovely worse worst best better"),
    "speed": ("words about speed", "fast slow quick quickly slowly rapid swift hurry hurried speed "
              "speeds haste"),
    "nationalities": ("nationality adjectives", "American British French German Italian Spanish Russian "
                      "Chinese Japanese Irish Scottish English Greek Roman Dutch Swiss Indian Mexican"),
    "alcohol": ("drinking and alcohol", "drunk drink drinks drinking bar pub beer wine whiskey gin rum "
                "bottle sober hangover booze"),
    "senses": ("verbs of perception", "see saw seen look looked watch watched hear heard listen listened "
               "smell smelled taste tasted feel felt touch"),
    "thinking": ("verbs of thinking", "think thought believe believed know knew known understand "
                 "understood remember remembered forget forgot imagine wonder"),
    "home": ("rooms and parts of a house", "room rooms kitchen bedroom bathroom hall door doors window "
             "windows wall walls roof floor stairs garden gate"),
    "sea": ("the sea and sailing", "sea seas ocean wave waves ship ships sail sailor sailors boat harbour "
            "harbor island beach shore tide captain anchor"),
    "animals_farm": ("farm life", "farm farmer barn field fields harvest crop crops plough tractor hay "
                     "cattle hen hens sheep"),
    "money_verbs": ("buying and selling", "buy buys bought sell sells sold spend spent pay pays paid "
                    "borrow lend lent owe owed shop shopping"),
    "gems_metals": ("gems and precious metals", "diamond diamonds ruby rubies emerald pearl pearls gold "
                    "golden silver jewel jewels crystal"),
    "humour": ("laughter and jokes", "laugh laughs laughed laughter joke jokes funny humor humour smile "
               "smiled grin comedy comic"),
}

# name -> (description, words): closed classes of English function words. None of them is the
# bench's first-person pronouns, negation words, question words or 'the'.
WORD_CLASSES: dict[str, tuple[str, str]] = {
    "object_pronouns": ("object pronouns (him, her, them)", "him her them"),
    "second_person": ("the pronoun you and its forms", "you your yours yourself yourselves"),
    "reflexive": ("reflexive pronouns ending in -self or -selves", "himself herself itself themselves "
                  "yourself yourselves oneself"),
    "demonstratives": ("demonstratives (this, that, these, those)", "this that these those"),
    "place_prepositions": ("prepositions of place (under, above, beside)", "under above below beside "
                           "behind beneath between among inside outside near across along around"),
    "time_prepositions": ("prepositions of time (during, until, since)", "during until since before after "
                          "till throughout"),
    "auxiliary_be": ("forms of the verb 'to be'", "am is are was were be been being"),
    "auxiliary_have": ("forms of the verb 'to have'", "have has had having"),
    "auxiliary_do": ("forms of the verb 'to do'", "do does did doing done"),
    "modals": ("modal verbs of possibility and duty (may, might, must)", "may might must shall should "
               "could would can will ought"),
    "coordinators": ("coordinating conjunctions (and, but, or, nor)", "and but or nor yet"),
    "subordinators": ("subordinating conjunctions (because, although, unless)", "because although though "
                      "unless whereas whether if"),
    "articles_indef": ("the articles a and an", "a an"),
    "intensifiers": ("intensifying adverbs (very, really, quite)", "very really quite rather extremely "
                     "too so pretty fairly"),
    "frequency_adverbs": ("adverbs of frequency (always, often, sometimes)", "always often sometimes "
                          "usually rarely seldom frequently occasionally ever"),
    "number_words": ("numbers written as words (two, seven, hundred)", "one two three four five six seven "
                     "eight nine ten eleven twelve twenty thirty hundred thousand million dozen"),
    "ordinal_words": ("ordinal words (first, second, third)", "first second third fourth fifth sixth "
                      "seventh eighth ninth tenth last"),
    "everyone_words": ("indefinite pronouns (everyone, somebody, anything)", "everyone everybody everything "
                       "someone somebody something anyone anybody anything"),
    "relative_pronouns": ("relative pronouns (who, whom, which, that)", "who whom whose which"),
}

# Words that introduce what someone says, for the dialogue rules.
SPEECH_VERBS = ("said", "says", "asked", "replied", "answered", "cried", "shouted", "whispered", "told")

"""Word lists for the training rule library: everyday and technical categories.

None of them is a concept of the bench ``rules`` suite (months, days, colours,
digits, Python keywords, pronouns ...) or one of its decoys; `library` also drops any
rule whose description lands too close to one, by embedding similarity.
"""

# name -> (description, words). Lower-case words match any capitalisation.
CATEGORIES: dict[str, tuple[str, str]] = {
    "animals": ("names of animals", "dog cat horse cow sheep goat pig mouse rat rabbit lion tiger bear wolf fox deer "
                "elephant monkey snake bird eagle owl duck chicken fish shark whale dolphin frog bee ant spider"),
    "body_parts": ("parts of the human body", "head hand hands arm arms leg legs foot feet eye eyes ear ears nose mouth "
                   "finger fingers toe neck shoulder knee heart lung lungs brain skin bone bones tooth teeth stomach"),
    "countries": ("names of countries", "France Germany Italy Spain Japan China India Brazil Canada Mexico Russia "
                  "England Ireland Scotland Egypt Greece Poland Sweden Norway Denmark Austria Belgium Portugal "
                  "Australia Argentina Chile Kenya Turkey"),
    "cities": ("names of cities", "London Paris Berlin Rome Madrid Tokyo Moscow Vienna Prague Amsterdam Dublin "
               "Boston Chicago Toronto Sydney Beijing Shanghai Cairo Athens Lisbon Oslo Stockholm Seattle Denver"),
    "professions": ("jobs and professions", "doctor doctors nurse teacher teachers lawyer engineer engineers farmer "
                    "pilot soldier baker painter writer author editor student students professor scientist "
                    "programmer programmers manager clerk judge priest driver"),
    "family": ("family relations", "mother father parent parents child children son sons daughter brother "
               "sister wife husband uncle aunt cousin grandfather grandmother family baby"),
    "emotions": ("words for emotions and feelings", "happy sad angry afraid fear joy love hate anger sorrow grief "
                 "pleasure anxious nervous proud ashamed jealous lonely glad upset calm excited surprised"),
    "vehicles": ("vehicles and means of transport", "car cars truck bus buses train trains plane airplane ship "
                 "boat bicycle bike taxi tram subway motorcycle helicopter rocket van wagon"),
    "furniture": ("pieces of furniture", "chair chairs table tables desk sofa couch bed beds shelf cupboard "
                  "drawer wardrobe bench stool cabinet bookcase"),
    "clothing": ("items of clothing", "shirt shirts coat jacket hat hats shoe shoes boots dress skirt trousers "
                 "jeans sock socks scarf gloves tie belt sweater uniform"),
    "drinks": ("drinks and beverages", "water coffee tea milk beer wine juice soda whisky lemonade cocoa "
               "champagne vodka"),
    "weather": ("words about the weather", "rain snow wind storm cloud clouds fog sunshine thunder lightning "
                "hail frost drizzle hurricane rainbow weather sunny rainy windy cloudy"),
    "instruments": ("musical instruments", "piano guitar violin drum drums flute trumpet cello harp organ "
                    "saxophone clarinet banjo trombone"),
    "sports": ("sports and games", "football soccer tennis golf baseball basketball hockey cricket chess "
               "rugby boxing swimming skiing cycling volleyball poker"),
    "elements": ("chemical elements", "hydrogen helium carbon nitrogen oxygen sodium chlorine iron copper "
                 "silver gold zinc lead uranium calcium potassium sulfur mercury"),
    "astronomy": ("planets, stars and space", "sun moon earth mars venus jupiter saturn mercury neptune uranus "
                  "planet planets star stars galaxy comet orbit asteroid"),
    "materials": ("materials things are made of", "wood stone glass plastic steel metal paper cotton wool "
                  "leather brick concrete rubber clay silk"),
    "tools": ("hand tools", "hammer saw drill screwdriver wrench knife scissors axe shovel chisel pliers "
              "ladder nail nails screw screws"),
    "buildings": ("kinds of buildings and places", "house houses school schools hospital church library "
                  "museum bank hotel office factory prison castle station airport restaurant shop"),
    "subjects": ("academic subjects", "mathematics physics chemistry biology history geography economics "
                 "philosophy psychology linguistics astronomy literature sociology algebra geometry"),
    "hardware": ("computer hardware", "cpu processor memory disk disks keyboard mouse monitor screen printer "
                 "motherboard ram gpu cable router laptop"),
    "networking": ("networking terms", "socket sockets host hosts port ports packet packets protocol "
                   "server servers client clients connection network proxy tcp udp http dns ip"),
    "file_formats": ("file formats", "json csv xml html yaml toml pdf png jpeg gif zip tar gzip txt ini"),
    "data_structures": ("data structures", "array arrays queue queues stack stacks tree trees graph graphs "
                        "heap heaps hashtable linked node nodes matrix vector"),
    "exceptions": ("names of Python exception classes", "ValueError TypeError KeyError IndexError "
                   "AttributeError RuntimeError OSError IOError ImportError NameError StopIteration "
                   "ZeroDivisionError NotImplementedError AssertionError Exception"),
    "encodings": ("names of text encodings", "utf utf8 ascii latin unicode cp1252 iso big5 shift_jis "
                  "utf-8 utf-16 latin-1 encoding encodings"),
    "units": ("units of measurement", "meter meters metre kilometre kilometers gram grams kilogram kilograms "
              "litre liter liters inch inches foot mile miles byte bytes kilobyte megabyte pound pounds "
              "ounce degree degrees"),
    "time_units": ("units of time", "second seconds minute minutes hour hours week weeks month year years "
                   "decade century millisecond milliseconds microseconds"),
    "money": ("words about money", "money dollar dollars euro euros price prices cost costs pay paid salary "
              "tax taxes bank budget cash coin coins debt profit"),
    "law": ("legal language", "law laws court judge jury legal contract license licence rights liability "
            "warranty statute lawsuit plaintiff defendant"),
    "medicine": ("medical words", "disease patient patients doctor hospital illness medicine drug drugs "
                 "cancer virus infection surgery symptom symptoms treatment therapy fever"),
    "communication_verbs": ("verbs of speaking", "say says said tell tells told ask asks asked reply replied "
                            "answer answered speak spoke talk talked explain explained"),
    "motion_verbs": ("verbs of movement", "run runs ran walk walks walked move moves moved jump jumped "
                     "climb climbed swim fly flew fall fell"),
    "modal_verbs": ("modal verbs", "can could should would must might shall will ought"),
    "conjunctions": ("conjunctions joining clauses", "and or but because although though unless since "
                     "while whereas so yet"),
    "quantifiers": ("quantity words", "all some many few every each any several most much more less both "
                    "none enough"),
    "shapes": ("geometric shapes", "circle circles square squares triangle rectangle polygon sphere cube "
               "cylinder cone ellipse oval line lines point points"),
    "directions": ("directions", "north south east west left right up down forward backward upward "
                   "downward above below"),
    "failure": ("words about errors and failure", "error errors fail fails failed failure invalid warning "
                "warnings broken crash exception problem bug bugs"),
    "log_levels": ("logging levels", "debug info warning warn error critical fatal trace notice"),
    "math_functions": ("mathematical functions", "sin cos tan sqrt log exp floor ceil abs pow atan asin acos "
                       "sinh cosh"),
    "string_methods": ("Python string methods", "split join strip lstrip rstrip replace lower upper startswith "
                       "endswith format encode decode find"),
    "http_methods": ("HTTP request methods", "GET POST PUT DELETE PATCH HEAD OPTIONS"),
    "politics": ("words about politics and government", "government election elections vote votes voter "
                 "parliament president minister senate congress party policy democracy"),
    "nature": ("landscape and nature", "tree trees river rivers mountain mountains forest forests lake sea "
               "ocean valley hill hills island desert field fields"),
    "languages": ("names of human languages", "English French German Spanish Italian Latin Greek Russian "
                  "Chinese Japanese Arabic Dutch Portuguese"),
    "programming_languages": ("names of programming languages", "Python Java Perl Ruby JavaScript C Rust Go "
                              "Haskell Lisp Fortran COBOL Pascal PHP Lua Scala"),
    "operating_systems": ("operating systems", "Linux Windows Unix macOS posix FreeBSD Solaris Android iOS "
                          "Darwin cygwin"),
    "greek_letters": ("names of Greek letters", "alpha beta gamma delta epsilon theta kappa mu pi rho sigma "
                      "tau phi chi psi omega"),
    "titles": ("titles before a person's name", "Mr Mrs Ms Dr Sir Madam Lord Lady Professor Captain"),
    "interjections": ("interjections", "oh ah hey wow oops ouch alas hello hi bye hmm"),
    "third_person": ("third-person pronouns", "he she it they him her them his hers its their theirs"),
    "kitchen": ("kitchen things", "pot pan pans plate plates bowl cup cups spoon fork oven stove kettle "
                "fridge sink"),
    "crime": ("words about crime", "crime thief theft robbery murder police arrest prison guilty steal "
              "stolen criminal"),
    "war": ("words about war", "war wars army armies soldier soldiers battle weapon weapons enemy attack "
            "troops gun guns"),
    "religion": ("words about religion", "god gods church prayer faith religion religious temple priest "
                 "holy bible saint"),
    "education": ("words about school and learning", "school lesson lessons exam exams homework teacher "
                  "class classes student university college course grade"),
    "art": ("words about art", "art painting paintings artist artists sculpture museum gallery portrait "
            "canvas drawing"),
    "light": ("words about light and darkness", "light bright dark darkness shadow shine lamp glow dim "
              "candle flash"),
    "sound": ("words about sound", "sound noise loud quiet silent silence voice echo song songs music"),
    "temperature": ("words about heat and cold", "hot cold warm cool heat freezing frozen boiling temperature "
                    "ice fire"),
    "containers": ("containers", "box boxes bag bags bottle bottles jar jars basket bucket barrel crate "
                   "envelope package"),
    "concurrency": ("words about concurrency", "thread threads lock locks mutex process processes async await "
                    "task tasks queue semaphore worker workers"),
    "database": ("database terms", "database table tables row rows column columns query queries index sql "
                 "transaction commit cursor schema"),
    "testing": ("words about software testing", "test tests testing assert mock fixture fixtures unittest "
                "pytest expected actual"),
    "version_control": ("version control terms", "git commit commits branch branches merge repository repo "
                        "checkout diff patch"),
}

# Frequent single words that make "the word X" rules (none of the bench's single words).
SINGLE_WORDS = (
    "of and to in is for that it with as be by on not this are or from an if which at can object "
    "value name file list data return function type default string number used use new set none "
    "true false all one class module method argument arguments instance call path key error example "
    "time line text result case first only also should will must may each when where more other "
    "than then there these those such into any some has have was were been its but how what "
    "see note get read write open close start end size count index item items code test version"
).split()

# Words a "word right after X" rule can be anchored on.
TRIGGERS = (
    "a an of to in is and or for with by be if as at on from into than was are has have can "
    "will would should must raise except lambda assert yield print isinstance len type str int "
    "called named use see using default returns"
).split()

SUFFIXES = ("tion", "sion", "ment", "ness", "able", "ible", "ful", "less", "ous", "ive", "ize", "ise",
            "ity", "al", "er", "est", "ism", "ist", "ship", "ance", "ence", "ary", "ure", "ight", "ound")
PREFIXES = ("un", "re", "pre", "dis", "non", "over", "sub", "inter", "multi", "auto", "con", "com",
            "ex", "de", "in", "trans", "super", "mis")

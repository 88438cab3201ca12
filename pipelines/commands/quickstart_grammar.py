"""The quickstart corpus's words: per language and topic a small vocabulary (``VOCAB``), clause templates
and boilerplate (``GRAMMAR``), and the spam generator's word lists. No third-party text: every word of the
corpus comes from here (``quickstart_pages`` writes pages from them, ``quickstart_corpus`` the files)."""

# lang -> topic -> (domain, who, nouns, adjectives, verbs, places, times); items split on "|". German adjectives
# are stems (the {ae}/{aen} slots add -e/-en); French/Spanish verbs are "infinitive/3rd person plural", their
# adjectives have one plural form for both genders, Spanish nouns carry their article.
VOCAB = {
    "en": {
        "gardening": ("example-garden.test", "gardeners|allotment holders|neighbours|growers|beginners|volunteers",
                      "tomatoes|seedlings|raised beds|compost heaps|climbing roses|runner beans|herb borders|fruit trees|"
                      "potato rows|garden paths|onion sets|strawberries", "sturdy|young|early|fragrant|tangled|healthy|"
                      "neglected|shady|sunny|heavy", "water|prune|mulch|plant|harvest|protect|divide|weed|stake|check",
                      "in the greenhouse|along the south wall|on the allotment|behind the shed|in the vegetable patch|"
                      "near the pond", "in early spring|after the first frost|during a dry summer|in late autumn|"
                      "every weekend|on cool mornings"),
        "cycling": ("velo-blog.test", "cyclists|commuters|club riders|touring cyclists|mechanics|new riders",
                    "chains|brake pads|tyres|gravel roads|mountain passes|saddle bags|gear cables|wheels|bike lanes|"
                    "rain jackets|water bottles|climbs", "steep|muddy|worn|light|reliable|narrow|quiet|fast|long|windy",
                    "check|clean|replace|climb|adjust|ride|carry|inspect|tighten|plan",
                    "on the coast road|through the valley|in the workshop|along the canal path|over the hills|"
                    "near the old bridge",
                    "before a long ride|on winter evenings|during the spring races|at the weekend|after heavy rain|"
                    "every few hundred miles"),
        "cooking": ("kitchen-notes.test", "home cooks|bakers|grandparents|chefs|students|hosts",
                    "onions|sourdough loaves|lentil soups|spices|copper pans|tomato sauces|dumplings|fresh herbs|pastries|"
                    "stews|knives|recipes", "crisp|simple|slow|rich|golden|fresh|spicy|thick|warm|generous",
                    "chop|taste|season|bake|stir|simmer|prepare|share|serve|roast",
                    "in a small kitchen|at the market|on the stove|in the oven|at the family table|in the pantry",
                    "on Sunday afternoons|before dinner|during the holidays|early in the morning|in the colder months|"
                    "after a long day"),
        "astronomy": ("stargazer-journal.test", "astronomers|amateur observers|club members|students|stargazers|volunteers",
                      "telescopes|star charts|meteor showers|distant galaxies|lunar craters|planets|eyepieces|faint nebulae|"
                      "double stars|star clusters|eclipses|comets", "faint|bright|distant|clear|patient|careful|remote|dark|"
                      "rare|brilliant", "observe|photograph|track|measure|record|study|sketch|find|catalogue|compare",
                      "from a dark field|at the observatory|on the hilltop|in the back garden|far from city lights|"
                      "on the roof terrace", "on moonless nights|in late August|after midnight|during the winter months|"
                      "before dawn|on clear evenings"),
        "local history": ("old-town-history.test", "historians|archivists|older residents|parish volunteers|researchers|"
                          "schoolchildren", "parish records|old maps|mill buildings|market charters|family letters|"
                          "railway timetables|stone bridges|guild books|photographs|town walls|census returns|church bells",
                          "old|forgotten|fragile|detailed|local|medieval|handwritten|early|remarkable|ordinary",
                          "study|restore|transcribe|catalogue|photograph|preserve|compare|explain|rediscover|map",
                          "in the town archive|at the county museum|near the market square|in the old mill|along the river|"
                          "in the library basement", "in the nineteenth century|after the great flood|during the war years|"
                          "before the railway arrived|in the early modern period|for many generations"),
    },
    "de": {
        "garten": ("gartenfreunde.test", "Gärtner|Nachbarn|Anfänger|Kleingärtner|Großeltern|Hobbygärtner",
                   "Tomaten|Sämlinge|Rosen|Kürbisse|Kräuter|Obstbäume|Gemüsebeete|Zwiebeln|Sträucher|Erdbeeren|Hecken|Äpfel",
                   "jung|kräftig|früh|duftend|gesund|schattig|sonnig|alt|üppig|empfindlich",
                   "gießen|schneiden|pflanzen|ernten|düngen|schützen|pflegen|mulchen|beobachten|stützen",
                   "im Gewächshaus|an der Südwand|im Kleingarten|hinter dem Schuppen|auf dem Balkon|neben dem Teich",
                   "im frühen Frühling|nach dem ersten Frost|im Spätsommer|im Herbst|am Wochenende|an kühlen Morgen"),
        "radfahren": ("radweg-blog.test", "Radfahrer|Pendler|Vereinsfahrer|Mechaniker|Tourenfahrer|Einsteiger",
                      "Ketten|Bremsbeläge|Reifen|Schotterwege|Pässe|Satteltaschen|Schaltzüge|Laufräder|Radwege|Regenjacken",
                      "steil|schlammig|abgenutzt|leicht|zuverlässig|schmal|ruhig|schnell|lang|windig",
                      "prüfen|reinigen|ersetzen|wechseln|fahren|tragen|planen|reparieren|ölen|befahren",
                      "an der Küstenstraße|im Tal|in der Werkstatt|am Kanal|über die Hügel|an der alten Brücke",
                      "vor einer langen Tour|an Winterabenden|während der Frühjahrsrennen|am Wochenende|nach starkem Regen"),
        "kochen": ("kochtopf-notizen.test", "Hobbyköche|Bäcker|Großmütter|Köche|Studenten|Gastgeber",
                   "Zwiebeln|Sauerteigbrote|Linsensuppen|Gewürze|Pfannen|Tomatensoßen|Knödel|Kräuter|Kuchen|Eintöpfe|"
                   "Messer|Rezepte", "knusprig|einfach|deftig|reichhaltig|golden|frisch|würzig|warm|herzhaft|saftig",
                   "schneiden|probieren|würzen|backen|rühren|kochen|verfeinern|teilen|servieren|braten",
                   "in einer kleinen Küche|auf dem Markt|auf dem Herd|im Ofen|am Familientisch|in der Speisekammer",
                   "am Sonntagnachmittag|vor dem Abendessen|in den Ferien|früh am Morgen|in den kalten Monaten|"
                   "nach einem langen Tag"),
        "sterne": ("sternwarte-blog.test", "Astronomen|Hobbyastronomen|Vereinsmitglieder|Schüler|Sternfreunde|Beobachter",
                   "Teleskope|Sternkarten|Sternschnuppen|Galaxien|Mondkrater|Planeten|Okulare|Nebel|Doppelsterne|"
                   "Sternhaufen|Kometen|Finsternisse", "schwach|hell|fern|klar|selten|groß|prächtig|lichtstark|winzig|auffällig",
                   "beobachten|fotografieren|verfolgen|vermessen|notieren|studieren|zeichnen|suchen|katalogisieren|vergleichen",
                   "auf einem dunklen Feld|in der Sternwarte|auf dem Hügel|im Garten hinter dem Haus|fern der Stadtlichter|"
                   "auf der Dachterrasse", "in mondlosen Nächten|Ende August|nach Mitternacht|in den Wintermonaten|"
                   "vor der Morgendämmerung|an klaren Abenden"),
    },
    "fr": {
        "jardinage": ("jardin-secret.test", "jardiniers|voisins|débutants|bénévoles|grands-parents|maraîchers",
                      "tomates|semis|rosiers|potirons|arbres fruitiers|plates-bandes|oignons|framboises|"
                      "pommes de terre|courges",
                      "jeunes|robustes|fragiles|précoces|magnifiques|sauvages|rustiques|tendres|superbes|solides",
                      "arroser/arrosent|tailler/taillent|planter/plantent|récolter/récoltent|protéger/protègent|"
                      "pailler/paillent|observer/observent|semer/sèment", "dans la serre|le long du mur sud|au potager|"
                      "derrière la cabane|sur le balcon|près de l'étang", "au début du printemps|après les premières gelées|"
                      "à la fin de l'été|en automne|le week-end|par les matins frais"),
        "cuisine": ("cuisine-maison.test", "cuisiniers|boulangers|grands-mères|chefs|étudiants|pâtissiers",
                    "oignons|pains au levain|soupes de lentilles|épices|casseroles|sauces tomate|gâteaux|ragoûts|"
                    "recettes|tartes",
                    "simples|riches|rapides|faciles|tendres|modestes|typiques|célèbres|énormes|magnifiques",
                    "couper/coupent|goûter/goûtent|assaisonner/assaisonnent|cuire/cuisent|remuer/remuent|"
                    "mijoter/mijotent|préparer/préparent|partager/partagent", "dans une petite cuisine|au marché|sur le feu|"
                    "au four|à la table familiale|dans le garde-manger", "le dimanche après-midi|avant le dîner|"
                    "pendant les vacances|tôt le matin|pendant les mois froids|après une longue journée"),
        "vélo": ("velo-passion.test", "cyclistes|mécaniciens|coureurs|randonneurs|débutants|passionnés",
                 "chaînes|plaquettes de frein|pneus|chemins de gravier|cols de montagne|sacoches|roues|pistes cyclables|"
                 "gourdes|montées|câbles|selles", "fiables|utiles|difficiles|simples|solides|rapides|robustes|modernes|"
                 "tranquilles|pratiques", "vérifier/vérifient|nettoyer/nettoient|changer/changent|régler/règlent|"
                 "porter/portent|réparer/réparent|graisser/graissent|préparer/préparent", "sur la route côtière|"
                 "dans la vallée|à l'atelier|le long du canal|dans les collines|près du vieux pont",
                 "avant une longue sortie|les soirs d'hiver|pendant les courses de printemps|le week-end|"
                 "après une forte pluie|tous les mois"),
        "astronomie": ("ciel-etoile.test", "astronomes|observateurs|membres du club|étudiants|amateurs|bénévoles",
                       "télescopes|cartes du ciel|étoiles filantes|galaxies lointaines|cratères lunaires|planètes|"
                       "oculaires|nébuleuses|étoiles doubles|amas d'étoiles|comètes|éclipses", "faibles|visibles|"
                       "remarquables|rares|célèbres|magnifiques|splendides|fragiles|stables|étranges",
                       "observer/observent|photographier/photographient|suivre/suivent|mesurer/mesurent|noter/notent|"
                       "étudier/étudient|dessiner/dessinent|chercher/cherchent", "dans un champ sombre|à l'observatoire|"
                       "au sommet de la colline|au fond du jardin|loin des lumières de la ville|sur la terrasse",
                       "les nuits sans lune|fin août|après minuit|pendant les mois d'hiver|avant l'aube|"
                       "par les soirées claires"),
    },
    "es": {
        "jardinería": ("huerto-feliz.test", "jardineros|vecinos|principiantes|voluntarios|abuelos|horticultores",
                       "las rosas|los tomates|los rosales|las calabazas|los árboles frutales|las cebollas|las fresas|"
                       "los setos|las plantas aromáticas|las macetas", "jóvenes|fuertes|frágiles|grandes|verdes|silvestres|"
                       "resistentes|enormes|excelentes|comunes", "regar/riegan|podar/podan|plantar/plantan|cosechar/cosechan|"
                       "proteger/protegen|cuidar/cuidan|observar/observan|sembrar/siembran", "en el invernadero|"
                       "junto al muro sur|en el huerto|detrás del cobertizo|en el balcón|cerca del estanque",
                       "a principios de la primavera|después de las primeras heladas|a finales del verano|en otoño|"
                       "los fines de semana"),
        "ciclismo": ("ciclismo-diario.test", "ciclistas|mecánicos|corredores|viajeros|principiantes|aficionados",
                     "las cadenas|las pastillas de freno|los neumáticos|los caminos de grava|los puertos de montaña|"
                     "las alforjas|las ruedas|los carriles bici|los bidones|las subidas", "fiables|útiles|difíciles|simples|"
                     "grandes|fuertes|resistentes|brillantes|veloces|suaves", "revisar/revisan|limpiar/limpian|"
                     "cambiar/cambian|ajustar/ajustan|llevar/llevan|reparar/reparan|engrasar/engrasan|preparar/preparan",
                     "en la carretera de la costa|por el valle|en el taller|junto al canal|por las colinas|"
                     "cerca del puente viejo",
                     "antes de una salida larga|en las tardes de invierno|durante las carreras de primavera|"
                     "los fines de semana|después de una lluvia fuerte"),
        "cocina": ("cocina-casera.test", "cocineros|panaderos|abuelos|chefs|estudiantes|anfitriones",
                   "las cebollas|los panes de masa madre|las sopas de lentejas|las especias|las cazuelas|"
                   "las salsas de tomate|los pasteles|los guisos|las recetas|las tartas|los cuchillos|las hierbas frescas",
                   "simples|fáciles|suaves|picantes|humildes|enormes|excelentes|calientes|dulces|populares",
                   "cortar/cortan|probar/prueban|sazonar/sazonan|hornear/hornean|remover/remueven|cocinar/cocinan|"
                   "preparar/preparan|compartir/comparten", "en una cocina pequeña|en el mercado|sobre el fuego|"
                   "en el horno|en la mesa familiar|en la despensa", "los domingos por la tarde|antes de la cena|"
                   "durante las vacaciones|temprano por la mañana|en los meses fríos|después de un largo día"),
        "astronomía": ("cielo-estrellado.test", "astrónomos|observadores|socios del club|estudiantes|aficionados|"
                       "voluntarios", "los telescopios|las cartas celestes|las lluvias de estrellas|las galaxias lejanas|"
                       "los cráteres lunares|los planetas|los oculares|las nebulosas|las estrellas dobles|"
                       "los cúmulos estelares|los cometas|los eclipses", "débiles|brillantes|visibles|notables|grandes|"
                       "comunes|espectaculares|difíciles|fáciles|impresionantes", "observar/observan|"
                       "fotografiar/fotografían|seguir/siguen|medir/miden|anotar/anotan|estudiar/estudian|dibujar/dibujan|"
                       "buscar/buscan", "en un campo oscuro|en el observatorio|en lo alto de la colina|en el jardín|"
                       "lejos de las luces de la ciudad|en la azotea", "en las noches sin luna|a finales de agosto|"
                       "después de medianoche|durante los meses de invierno|antes del amanecer|en las tardes despejadas"),
    },
    "zh": {
        "园艺": ("huayuan-riji.test", "园丁|邻居|新手|志愿者|爷爷奶奶|老农", "番茄|幼苗|玫瑰|南瓜|果树|菜畦|洋葱|草莓|篱笆|香草|花盆|土豆",
                 "茁壮|娇嫩|早熟|芬芳|健康|荒芜|向阳|茂盛", "浇灌|修剪|种植|收获|保护|照料|观察|施肥",
                 "在温室里|在南墙边|在菜园里|在小屋后面|在阳台上|在池塘旁边", "早春时节|初霜过后|夏末|秋天|每个周末|清晨"),
        "天文": ("xingkong-guancha.test", "天文学家|业余观测者|俱乐部成员|学生|观星爱好者|志愿者",
                 "望远镜|星图|流星雨|星系|月球环形山|行星|目镜|星云|双星|星团|日食|彗星", "暗淡|明亮|遥远|清晰|罕见|壮观|稳定|神秘",
                 "观测|拍摄|跟踪|测量|记录|研究|描绘|寻找", "在野外|在天文台|在山顶上|在后院|在郊外|在屋顶上",
                 "无月之夜|八月下旬|午夜以后|冬季|黎明之前|晴朗的傍晚"),
        "烹饪": ("chufang-biji.test", "家庭厨师|面包师|外婆|厨师|学生|主人", "洋葱|酸面包|扁豆汤|香料|铜锅|番茄酱|饺子|香草|点心|"
                 "炖菜|菜刀|食谱", "酥脆|简单|浓郁|金黄|新鲜|辛辣|温热|丰盛", "切|品尝|调味|烘烤|搅拌|炖煮|准备|分享",
                 "在小厨房里|在市场上|在炉子上|在烤箱里|在餐桌旁|在储藏室里", "星期天下午|晚饭之前|假期里|清晨|冬天|下班以后"),
        "骑行": ("danche-riji.test", "骑行者|通勤族|车队成员|修车师傅|长途骑手|新手", "链条|刹车片|轮胎|砂石路|山口|驮包|变速线|车轮|"
                 "自行车道|雨衣|水壶|坡道", "陡峭|泥泞|磨损|轻便|可靠|狭窄|安静|漫长", "检查|清洗|更换|调整|保养|修理|润滑|准备",
                 "在海边公路上|在山谷里|在车间里|沿着运河|在丘陵之间|在老桥附近", "长途出发前|冬天的晚上|比赛期间|周末|大雨过后|每个月"),
    },
}

# lang -> clause templates, openers, tails ({c}: a second clause), titles (all split on "|"; "[x/y]" in a
# template picks x or y), boilerplate (nav § popular § newsletter § rights § cookie notice § accept button).
GRAMMAR = {
    "en": dict(
        clauses="{who} {v} the {a} {n} {p}|{who} like to {v} their {n} {t}|it is usually better to {v} the {n} {t}|"
                "most {who} have learned that {a} {n} are easier to {v} with a little patience|"
                "there is a lot to be said for {a} {n} {p}|the {n} and the {n2} should be {a} enough by now|"
                "we tend to {v} our {n} {t}|nobody wants to {v} {a} {n} in a hurry|"
                "the best {n} are often the ones that {who} {v} themselves|"
                "a few {a} {n} can make a real difference to the {n2}|{who} should {v} the {n} before they {v2} the {n2}|"
                "many of the {n} that we saw {p} were {a}|it took us a while to {v} the {n} properly|"
                "one of the {a} {n} {p} has been there for years|the {n} tell you more about the {n2} than any book|"
                "you do not need {a} {n} to {v} the {n2} well|"
                "{who} who {v} the {n} {t} tend to have fewer problems with the {n2}|"
                "we were surprised by how {a} the {n} looked {p}|if the {n} are {a}, it is wise to {v} them {t}|"
                "our {who} {v} the {n} {t} and {v2} the {n2} {p}|{t}, the {who} {v} the {n} with great care|"
                "[it pays/it is worth it/it helps] to {v} the {n} {t}|{who} [often/rarely/sometimes] {v} the {n} {p}|"
                "[last year/this season/a few years ago] we [decided/tried/started] to {v} the {n} {p}|"
                "the {a} {n} [need/deserve] [more/a bit more/far more] attention than the {n2}|"
                "[in our view/as far as we can tell], {a} {n} [rarely/seldom/hardly ever] cause trouble {p}|"
                "a [neighbour/friend/reader] once showed us how to {v} {a} {n}|there were [fewer/more] {a} {n} {p} than "
                "we expected|anyone who wants to {v} the {n} {t} [needs patience/should start early/has to plan ahead]|"
                "[sometimes/often] our {who} help us {v} the {n}|without {a} {n}, the work {p} would be "
                "[half as much fun/much harder]|the {n} [look/seem/stay] [surprisingly/fairly/rather] {a} {t}|"
                "we always take the time to {v} the {n} {p}|nothing beats {a} {n} {t}",
        openers="||||||||In our experience, |To be honest, |As a rule, |Of course, |In the end, |For that reason, |"
                "Even so, |On the other hand, |Every year, |Admittedly, |In practice, |Most of the time, ",
        tails="|||, and {c}|, but {c}| because {c}|, so {c}|, while {c}",
        titles="How to {v} {n} {t}|Notes on {n} and {n2}|What we learned about {a} {n}|Why {who} {v} the {n} {t}|"
               "A beginner's guide to {a} {n}|A year of {a} {n}",
        boiler="Home|Articles|Archive|About|Contact§Popular posts§Subscribe to our weekly newsletter and never miss a post."
               "§All rights reserved.§We use cookies to improve your experience. By continuing to browse you accept our "
               "cookie policy.§Accept"),
    "de": dict(
        clauses="die {who} {v} die {aen} {n} {p}|{t} {v} die {who} die {n} [besonders sorgfältig/mit viel Geduld/am "
                "liebsten gemeinsam]|viele {who} {v} ihre {n} lieber {t}|es lohnt sich, die {n} {t} zu {v}|"
                "{ae} {n} brauchen [etwas/deutlich/viel] mehr Geduld als {ae2} {n2}|"
                "wir haben gelernt, dass man die {n} {p} [regelmäßig/rechtzeitig/vorsichtig] {v} sollte|"
                "die {n} und die {n2} sind {p} oft erstaunlich {a}|man sollte die {n} nicht zu [spät/früh/hastig] {v}|"
                "die meisten {who} wissen, dass {ae} {n} viel Aufmerksamkeit brauchen|{p} sieht man [oft/häufig/manchmal] "
                "{ae} {n}|unsere {who} kümmern sich {t} um die {n}|niemand möchte die {aen} {n} in großer Eile {v}|"
                "die {n} erzählen mehr über die {n2} als jedes Buch|für {ae} {n} braucht man keine teure Ausrüstung|"
                "es hat eine Weile gedauert, bis wir die {n} richtig {v} konnten|"
                "{who}, die {t} die {n} {v}, sparen sich später viel Arbeit|"
                "[im Grunde/eigentlich/meistens] genügt es, die {n} {t} zu {v}|"
                "[manche/einige/viele] {who} halten es für sinnvoll, die {n} {p} zu {v}|"
                "[letztes Jahr/im vergangenen Sommer/vor ein paar Jahren] haben wir [begonnen/versucht], die {n} {p} zu {v}|"
                "die {aen} {n} verdienen [mehr/etwas mehr/deutlich mehr] Aufmerksamkeit als die {n2}|"
                "[nach unserer Erfahrung/soweit wir wissen,] machen {ae} {n} {p} [selten/kaum] Ärger|"
                "[ein Nachbar/eine Leserin/ein Freund] hat uns [einmal/neulich] gezeigt, wie man {ae} {n} {v} kann|"
                "{p} gab es [mehr/weniger] {ae} {n}, als wir [erwartet/gedacht] hatten|"
                "wer die {n} {t} {v} will, [braucht etwas Geduld/sollte früh anfangen/muss gut planen]|"
                "[oft/manchmal/gelegentlich] helfen uns die {who} dabei, die {n} zu {v}|"
                "ohne {ae} {n} wäre die Arbeit {p} [nur halb so schön/viel mühsamer]|"
                "[gerade/besonders] {t} lohnt sich ein [genauer/zweiter] Blick auf die {n}|"
                "die {n} wirken {t} [oft/meist/manchmal] [erstaunlich/ziemlich/recht] {a}|"
                "wir nehmen uns immer Zeit, die {n} {p} zu {v}|{p} {v} die {who} [gern/oft/gemeinsam] {ae} {n}|"
                "nichts geht über {ae} {n} {t}",
        openers="||||||||Aber |Und |Doch |Ehrlich gesagt, |Kurz gesagt, |Zugegeben, |Klar ist: ",
        tails="|||, und {c}|, aber {c}|, denn {c}|, doch {c}",
        titles="{n} richtig {v}: eine kleine Anleitung|Über {n} und {n2}|Was wir über {ae} {n} gelernt haben|"
               "Warum {who} die {n} {t} {v}|Ein Jahr mit {aen} {n}",
        boiler="Startseite|Artikel|Archiv|Über uns|Kontakt§Beliebte Beiträge§Abonnieren Sie unseren wöchentlichen "
               "Newsletter.§Alle Rechte vorbehalten.§Wir verwenden Cookies, um Ihnen das beste Erlebnis zu bieten. Mit der "
               "weiteren Nutzung stimmen Sie zu.§Akzeptieren"),
    "fr": dict(
        clauses="les {who} {v3} les {n} {a} {p}|{t}, les {who} aiment {v} les {n}|il vaut mieux {v} les {n} {t}|"
                "les {n} {a} demandent [un peu/bien/nettement] plus de patience que les {n2}|"
                "nous avons appris qu'il faut {v} les {n} {p}|beaucoup de {who} préfèrent {v} leurs {n} {t}|"
                "personne ne veut {v} les {n} {a} à la hâte|les {n} en disent plus sur les {n2} que n'importe quel livre|"
                "on n'a pas besoin de {n} {a} pour {v} les {n2}|"
                "les {who} qui {v3} les {n} {t} ont moins de problèmes avec les {n2}|"
                "il nous a fallu du temps pour {v} correctement les {n}|{p}, on trouve [souvent/parfois/facilement] des "
                "{n} {a}|les {n} et les {n2} restent {a} {p}|"
                "la plupart des {who} savent que les {n} {a} demandent beaucoup de soin|nos {who} s'occupent des {n} {t}|"
                "[l'an dernier/cette saison/il y a quelques années], nous avons [décidé/essayé] de {v} les {n} {p}|"
                "les {n} {a} méritent [plus/un peu plus/bien plus] d'attention que les {n2}|"
                "[à notre avis/d'après notre expérience], les {n} {a} posent rarement problème {p}|"
                "un [voisin/lecteur/ami] nous a [montré/expliqué] un jour comment {v} les {n} {a}|"
                "il y avait [plus/moins] de {n} {a} {p} que prévu|c'est {t} qu'il faut {v} les {n}|"
                "ceux qui veulent {v} les {n} {t} doivent [s'armer de patience/bien s'organiser/commencer tôt]|"
                "[parfois/souvent], nos {who} nous aident à {v} les {n}|"
                "sans {n} {a}, le travail {p} serait [bien moins agréable/beaucoup plus difficile]|"
                "{t}, cela vaut la peine de regarder les {n} de plus près|"
                "les {n} [semblent/restent/paraissent] [souvent/parfois] [étonnamment/assez/plutôt] {a} {t}|"
                "nous prenons toujours le temps de {v} les {n} {p}|{p}, les {who} {v3} [volontiers/souvent/ensemble] "
                "les {n} {a}|rien ne vaut des {n} {a} {t}",
        openers="|||||||En général, |Pour être honnête, |Bien sûr, |Au début, |Finalement, |Chaque année, |D'ailleurs, |"
                "En pratique, |Entre nous, ",
        tails="|||, et {c}|, mais {c}| parce que {c}|, donc {c}|, alors que {c}",
        titles="Comment {v} les {n} {t}|Quelques notes sur les {n} et les {n2}|Ce que nous avons appris sur les {n} {a}|"
               "Pourquoi les {who} {v3} les {n} {t}|Une saison avec les {n} {a}",
        boiler="Accueil|Articles|Archives|À propos|Contact§Articles populaires§Abonnez-vous à notre lettre d'information "
               "hebdomadaire.§Tous droits réservés.§Nous utilisons des cookies pour améliorer votre expérience. En "
               "poursuivant la navigation, vous acceptez leur utilisation.§Accepter"),
    "es": dict(
        clauses="los {who} {v3} {n} {a} {p}|{t}, los {who} prefieren {v} {n}|es mejor {v} {n} {t}|"
                "{n} {a} necesitan [un poco más de/bastante más/mucha más] paciencia que {n2}|hemos aprendido que hay que {v} {n} {p}|"
                "muchos {who} suelen {v} {n} {t}|nadie quiere {v} {n} {a} con prisa|"
                "{n} dicen más sobre {n2} que cualquier libro|no hace falta mucho dinero para {v} {n} {a}|"
                "los {who} que {v3} {n} {t} tienen menos problemas con {n2}|nos costó un tiempo aprender a {v} bien {n}|"
                "{p} se ven [a menudo/a veces/con frecuencia] {n} {a}|{n} y {n2} siguen siendo {a} {p}|"
                "la mayoría de los {who} sabe que {n} {a} requieren mucho cuidado|nuestros {who} se ocupan de {n} {t}|"
                "[el año pasado/esta temporada/hace unos años] decidimos {v} {n} {p}|"
                "{n} {a} merecen [más/algo más/bastante más] atención que {n2}|"
                "[en nuestra opinión/según nuestra experiencia], {n} {a} rara vez dan problemas {p}|"
                "un [vecino/lector/amigo] nos enseñó una vez cómo {v} {n} {a}|es {t} cuando conviene {v} {n}|"
                "quien quiera {v} {n} {t} [debe tener paciencia/tiene que planificar bien/debe empezar pronto]|"
                "[a veces/a menudo], nuestros {who} nos ayudan a {v} {n}|"
                "sin {n} {a}, el trabajo {p} sería [mucho menos agradable/bastante más difícil]|"
                "{t}, vale la pena mirar {n} con más calma|"
                "{n} [parecen/resultan] [a menudo/a veces] [sorprendentemente/bastante/muy] {a} {t}|"
                "siempre nos tomamos tiempo para {v} {n} {p}|{p}, los {who} {v3} [con gusto/a menudo/juntos] {n} {a}|"
                "nada como {n} {a} {t}|cada temporada aprendemos algo nuevo al {v} {n}",
        openers="|||||||En general, |Para ser sincero, |Por supuesto, |Al principio, |Al final, |Cada año, |Además, |"
                "En la práctica, |Entre nosotros, ",
        tails="|||, y {c}|, pero {c}| porque {c}|, así que {c}|, mientras que {c}",
        titles="Cómo {v} {n} {t}|Notas sobre {n} y {n2}|Lo que aprendimos sobre {n} {a}|Por qué los {who} {v3} {n} {t}|"
               "Un año con {n} {a}",
        boiler="Inicio|Artículos|Archivo|Quiénes somos|Contacto§Entradas populares§Suscríbete a nuestro boletín semanal."
               "§Todos los derechos reservados.§Usamos cookies para mejorar tu experiencia. Si sigues navegando, aceptas "
               "su uso.§Aceptar"),
    # Chinese: split_words keeps a run of Han characters and full-width punctuation as one word, so clauses are
    # short and every "，" / "；" is followed by a space (added in _Writer._polish): a clause is a word.
    "zh": dict(
        clauses="{p}，{who}{v}{n}|{t}，{who}常常{v}{n}|{a}的{n}更需要耐心|我们发现，{n}其实很{a}|{v}{n}，不能太匆忙|"
                "{n}能说明很多问题|{who}会先{v}{n}，再{v2}{n2}|花了不少时间，才学会{v}{n}|{p}，常能看到{a}的{n}|"
                "{who}都知道，{n}需要细心照顾|{t}，由{who}负责{v}{n}|{t}最适合{v}{n}|"
                "[去年/前几年/这个季节]，我们试着{v}{n}|[一位邻居/一位读者/一个朋友]教过我们，怎样{v}{a}的{n}|"
                "{p}，{n}比预想的[多/少]|想在{t}{v}{n}，[就得有耐心/最好早点开始/需要好好计划]|"
                "[有时/经常]，{who}也会来帮忙|{n}[看上去/显得/总是][很/相当/格外]{a}|"
                "[在我们看来/根据经验]，{a}的{n}很少出错|得空时，我们就{v}{n}|{n}和{n2}[都/一直]很{a}|"
                "没有{a}的{n}，[工作会难很多/乐趣就少了一半]|{t}，不妨仔细看看{n}|{t}，{who}[喜欢/习惯]{v}{n}|"
                "与其等待，不如{t}就{v}{n}|{n}比{n2}更{a}|[老实说/其实]，{n}并不难{v}",
        openers="||||||说实话，|一般来说，|当然，|起初，|最后，|每年，|其实，|总的来说，|另一方面，",
        tails="|||，而且{c}|，但是{c}|，因为{c}|，所以{c}|，不过{c}|；另外，{c}",
        titles="关于{n}和{n2}的笔记|如何{t}{v}{n}|我们从{a}的{n}中学到了什么|{who}为什么{t}{v}{n}|{p}的{n}：一年的观察",
        boiler="首页|文章|归档|关于我们|联系§热门文章§订阅我们的每周简报就能第一时间收到最新的文章和活动消息。§版权所有。"
               "§本网站使用 Cookie 来改善您的体验。继续浏览即表示您同意。§接受"),
}
SPAM_WORDS = ["cheap watches", "casino bonus", "diet pills", "free phone credits", "replica bags"]
SHOUTS = "BUY NOW!!!|LIMITED OFFER!!!|CLICK HERE!!!|100% FREE!!!|ACT FAST!!!|YOU ARE A WINNER!!!|ONLY TODAY!!!".split("|")
SYLLABLES = "ta ver mo lis cu ra te num pe do qua ri se bo ex un".split()

"""Curated multilingual term lists (EN, ES, DE, FR) for special-category detection.

All entries are *folded* (lower case, no accents, ASCII apostrophes — see ``text.fold``). A trailing
``*`` matches any continuation (``depress*`` → depression, depressed, depresion). Spaces and hyphens
inside an entry match each other.

Why the lists are split:

* ``TOPIC_TERMS`` name a special category. Naming a topic is not a disclosure ("explain how
  antidepressants work in general" is public), so a topic term counts only when a person cue ("I",
  "my", "mi", "mein", "je", "his", …) sits in the same sentence near it.
* ``SELF_CUE_TERMS`` carry their own subject ("diagnosed", "sober", "relapsed"): they count unless the
  sentence is plainly about other people in general ("someone", "people", "patients").
* ``DISCLOSURE_PHRASES`` are regexes that are a disclosure whatever surrounds them (self-harm
  statements, "my anxiety", "I'm black").

Entries that are too ambiguous alone ("union", "black", "trans", "anxiety", "stroke", "blind") appear
only inside phrases. When in doubt an entry stays in: a false positive costs a local call, a false
negative leaks data.
"""

from __future__ import annotations

import re

from router.scoring.text import terms as _terms

# A topic term counts only with a person cue near it in the same sentence.
TOPIC_TERMS: dict[str, tuple[str, ...]] = {
    "health": _terms(
        """
        cancer*, tumor*, tumour*, chemo*, radiotherapy, radiation therapy, oncolog*, diabet*,
        prediabet*, hba1c, insulin*, blood sugar, glucose, hypertension, high blood pressure,
        blood pressure, cholesterol, heart attack, heart disease, heart condition, cardiac, cardiolog*,
        asthma*, epilep*, seizure*, migraine*, multiple sclerosis, parkinson*, alzheimer*, dementia,
        arthritis, fibromyalgia, chronic pain, chronic fatigue, chronic illness, crohn*, colitis, ibs,
        celiac, coeliac, lupus, hiv, hepatitis, herpes, chlamydia, long covid, disabilit*, disabled,
        wheelchair, amputat*, deaf, hearing loss, visually impaired, surgery, surgeries, hospitalised,
        hospitalized, in hospital, in the hospital, emergency room, sexually transmitted,
        terminally ill, terminal illness, terminal cancer, operated on, biopsy, mri, ct scan, bmi,
        obese, obesity, thyroid, hypothyroid*, hyperthyroid*, pcos, endometriosis, menopaus*,
        perimenopaus*, injur*, concussion, physiotherap*, physical therapy, symptom*, doctor, doctors,
        doctor's, physician, gp appointment, neurolog*, medical condition, illness*, a stroke,
        had a stroke, sick leave, disease*, syndrome, allerg*, eczema, psoriasis, sleep apnea,
        sleep apnoea, insomnia, genetic test*, brca, transplant*, dialysis, kidney disease,
        liver disease, palliative, diabetes, tension alta, enfermedad*, enferma, enfermo, discapacidad*,
        cirugia, operacion de, hospitalizad*, sintoma*, medico, medica, baja medica, dolor cronico,
        quimioterapia, alergia*, lesion*, embolia, infarto, epilepsia, esclerosis, insomnio, krebs*,
        tumor, chemotherapie, diabetes, zuckerkrank*, bluthochdruck, herzinfarkt, schlaganfall,
        krankheit*, erkrank*, behinder*, rollstuhl, operation, krankenhaus*, klinik*, symptom*, arzt,
        arztin, hausarzt*, krankgeschrieben, krankschreibung, chronisch*, allergi*, verletzung*,
        schlaflos*, epilepsie, multiple sklerose, cancer*, chimio*, diabete*, maladie*, malade,
        handicap*, fauteuil roulant, chirurgie, hopital, hospitalise*, symptome*, medecin*,
        arret maladie, douleur* chronique*, allergi*, blessure*, sclerose en plaques, insomnie, avc,
        crise cardiaque, tension arterielle
        """
    ),
    "mental_health": _terms(
        """
        depress*, anxiety disorder*, social anxiety, generalized anxiety, generalised anxiety,
        panic attack*, panic disorder, ptsd, c-ptsd, cptsd, trauma*, bipolar*, manic, mania,
        nervous breakdown, mental breakdown, schizo*, psychosis, psychotic, ocd, eating disorder*,
        anorexi*, bulimi*, binge eating, adhd, autis*, asperger*, borderline personality,
        personality disorder, bpd, mental illness*, mental health condition*, mental health issue*,
        mental health problem*, mental health crisis, nervous breakdown, burnout diagnosis, therapist*,
        therapy, psychiatri*, psychologist*, counselling sessions, counseling sessions, dyslexi*,
        dyspraxi*, tourette*, postpartum, postnatal depression, grief counsel*, depresion*, deprimid*,
        ansiedad generalizada, trastorno*, ataque* de panico, tept, bipolaridad, tdah, autismo, autista,
        terapeuta, psiquiatr*, psicologa, psicologo, terapia, anorexia, bulimia, depression*,
        depressiv*, angststorung*, panikattacke*, bipolar*, ptbs, adhs, autismus, autist*, essstorung*,
        magersucht, therapeut*, psychiater*, psychotherap*, psycholog*, burnout diagnose*,
        zwangsstorung*, trauma*, depression*, deprime*, trouble* anxieux, crise* d'angoisse,
        attaque* de panique, tspt, bipolaire*, tdah, autisme, autiste, trouble* alimentaire*, anorexie,
        boulimie, psychiatre, psychologue, therapeute, therapie, burn out diagnostique
        """
    ),
    "medication": _terms(
        """
        antidepress*, ssri*, snri*, benzodiazepin*, benzos, statin*, antiretroviral*, antipsychotic*,
        mood stabili*, birth control, contracepti*, hormone therapy, hormone replacement, hrt,
        testosterone, estrogen, oestrogen, puberty blocker*, meds, medication*, prescription*, dosage,
        antibiotic*, inhaler, epipen, antidepresivo*, medicacion, medicamento*, pastilla*, ansiolitico*,
        anticonceptivo*, antidepressiva, medikament*, tabletten, psychopharmaka, verhutung*,
        antidepresseur*, medicament*, anxiolytique*, ordonnance
        """
    ),
    "pregnancy": _terms(
        """
        pregnan*, expecting a baby, trimester, miscarr*, ivf, fertility treatment*, infertil*, abortion,
        maternity leave, egg freezing, stillbirth, embarazada, embarazo, aborto, fecundacion in vitro,
        baja por maternidad, schwanger*, fehlgeburt, abtreibung, kinderwunsch*, mutterschutz, enceinte,
        grossesse, fausse couche, avortement, fiv, conge maternite
        """
    ),
    "sexual_orientation": _terms(
        """
        gay, lesbian*, bisexual*, queer, homosexual*, asexual, came out as, came out to, coming out as,
        coming out to, pansexual, lgbt*, same sex partner, same-sex, closeted, lesbiana, gai,
        salir del armario, sali del armario, schwul*, lesbisch*, bisexuell*, homosexuell*, mein outing,
        coming-out, homo, homosexuel*, lesbienne*, bisexuel*, mon coming out
        """
    ),
    "gender_identity": _terms(
        """
        transgender, transsexual, nonbinary, non binary, genderqueer, genderfluid, gender fluid,
        gender transition, gender dysphoria, gender identity, my pronouns, top surgery, deadname,
        transgenero, no binari*, persona trans, transgenre, non binaire, transidentit*,
        transition de genre, nichtbinar, transfrau, transmann, geschlechtsangleich*, dysphori*
        """
    ),
    "religion": _terms(
        """
        muslim*, islam, islamic, christian, christians, christianity, catholic*, protestant*,
        evangelical*, mormon*, latter day saint*, jehovah*, jewish, judaism, hindu*, buddhis*, sikh*,
        atheis*, agnostic, ramadan, iftar, suhoor, sehri, eid, hajj, halal, kosher, during lent,
        shabbat, sabbath, passover, yom kippur, church, mosque, synagogue, pray, prayer*, praying,
        hijab, kippah, rabbi, imam, pastor, bible study, quran, koran, torah, scientolog*, baptis*,
        religio*, my faith, our faith, musulman*, cristian*, catolic*, judio, judia, evangelic*, ateo,
        atea, iglesia, mezquita, sinagoga, rezar, rezo, misa, cuaresma, testigo* de jehova, christ,
        christin, christlich*, katholisch*, evangelisch*, judisch*, jude, judin, atheist*, kirche,
        moschee, synagoge, beten, gebet, gebete, gottesdienst*, chretien*, catholique*, juif, juive,
        athee, eglise, mosquee, prier, priere*, careme, pratiquant*, croyant*
        """
    ),
    "political_opinion": _terms(
        """
        republican*, labour party, labor party, tory, tories, conservative party, liberal democrat*,
        green party, socialist*, communist*, libertarian*, democrat, democrats, far right, far left,
        antifa, maga, political party, party member*, canvass*, campaign volunteer*, political view*,
        political opinion*, activist*, psoe, vox, militante*, mi partido, vote a, voto a, spd, cdu, csu,
        afd, fdp, die grunen, die linke, parteimitglied*, rassemblement national, front national, lfi,
        france insoumise, militant*, parti socialiste, j'ai vote
        """
    ),
    "ethnicity": _terms(
        """
        person of colo*, people of colo*, bipoc, latino, latina, latinx, hispanic, african american,
        asian american, arab american, romani, gypsy, indigenous, aboriginal, native american,
        first nations, mixed race, biracial, ethnic*, racism, racist, racial*, microaggression*,
        racial slur*, afrodescendiente, gitano, gitana, indigena, etnia, racismo, migrationshintergrund,
        rassismus, rassistisch*, racise*, maghrebin*, origine ethnique
        """
    ),
    "trade_union": _terms(
        """
        trade union*, labor union*, labour union*, union organi*, union rep*, union steward,
        union member*, union meeting*, shop steward, on strike, strike ballot, teamsters, unionizing,
        unionising, sindicat*, sindical*, huelga, ccoo, ugt, gewerkschaft*, betriebsrat*, streik*,
        ig metall, verdi, syndicat*, syndiqu*, greve, cgt, cfdt, delegue* du personnel
        """
    ),
    "immigration": _terms(
        """
        undocumented, immigra*, migrant*, refugee*, asylum*, visa, work permit, green card,
        residence permit, deport*, overstay*, daca, naturalization, naturalisation, naturalized,
        naturalised, citizenship application, inmigrante*, indocumentad*, sin papeles, refugiad*, asilo,
        permiso de residencia, permiso de trabajo, visado, deportac*, regularizacion, aufenthaltstitel,
        aufenthaltserlaubnis, arbeitserlaubnis, duldung, asyl*, fluchtling*, gefluchtet*, abschiebung,
        visum, einwander*, sans papiers, titre de sejour, carte de sejour, demandeur d'asile, asile,
        refugie*, immigre*, expulsion, oqtf, regularisation
        """
    ),
    "legal": _terms(
        """
        lawsuit*, court case, court hearing, in court, family court, court order, sued, suing, lawyer*,
        attorney*, solicitor*, court date, convicted, conviction*, criminal record, arrest*,
        charged with, probation, parole, prison, jail*, inmate, incarcerat*, felony, misdemeanor, dui,
        dwi, drunk driving, custody, divorc*, restraining order, police record, investigated,
        under investigation, indicted, plea deal, litigation, subpoena, legal case, legal action,
        criminal charge*, offender, abogad*, tribunal*, juzgado, condena*, carcel, prision, arrestad*,
        detenido, detenida, antecedentes penales, divorcio, custodia, orden de alejamiento,
        libertad condicional, denuncia*, anwalt, vor gericht, gerichtstermin*, gerichtsverfahren, haft,
        haftstrafe*, strafanzeige, anwaltin, rechtsanwalt*, klage, verklagt, verurteilt, vorstrafe*,
        gefangnis, festgenommen, scheidung, sorgerecht, bewahrung, strafverfahren, ermittlungsverfahren,
        avocat*, proces, condamn*, casier judiciaire, garde a vue, divorce*, garde des enfants,
        garde alternee, plainte, poursuivi*, mis en examen
        """
    ),
    "violence": _terms(
        """
        domestic violence, domestic abuse, abuse*, abusive, abused, sexual assault*, assaulted, raped,
        rape, harass*, stalk*, molest*, maltrato, maltratad*, violencia de genero, violencia domestica,
        acoso, acosad*, agresion sexual, violad*, missbrauch*, misshandel*, hausliche gewalt,
        belastigung, belastigt, vergewaltig*, harcelement, harcele*, violences conjugales,
        violence conjugale, agression sexuelle, viol, violee, maltraitance
        """
    ),
    "substance_use": _terms(
        """
        addict, alcohol addiction, drug addiction, gambling addiction, opioid addiction,
        addiction recovery, gambling problem, addicted to alcohol, addicted to drugs,
        addicted to gambling, addicted to painkillers, alcoholi*, alcohol problem*, drinking problem,
        sobriety, rehab, aa meeting*, alcoholics anonymous, narcotics anonymous, cocaine, heroin, meth,
        opioid*, drug use, drug habit, adiccion al alcohol, adiccion a las drogas, drogadict*,
        alcoholismo, sobriedad, rehabilitacion, cocaina, suchtig, alkoholiker*, alkoholproblem*,
        entzug*, kokain, alcoolique*, alcoolisme, sevrage, desintox*
        """
    ),
    "self_harm": _terms(
        """
        suicid*, self harm*, selfharm*, self injur*, overdos*, autolesion*, selbstmord*, selbstverletz*,
        automutil*, scarification*, suizid*
        """
    ),
    "minor": _terms(
        """
        1st grade, 2nd grade, 3rd grade, 4th grade, 5th grade, 6th grade, 7th grade, 8th grade,
        9th grade, 10th grade, 11th grade, 12th grade, first grade, second grade, third grade,
        fourth grade, fifth grade, sixth grade, seventh grade, eighth grade, ninth grade, tenth grade,
        eleventh grade, twelfth grade, year 7, year 8, year 9, year 10, year 11, primero de primaria,
        segundo de primaria, tercero de primaria, de la eso, klasse, teen, teens, teenager*, toddler*,
        baby, babies, infant*, newborn*, preteen*, tween*, adolescent*, high school, middle school,
        elementary school, primary school, secondary school, grade school, kindergarten, daycare,
        underage, adolescente*, bebe, primaria, secundaria, guarderia, menor de edad, kleinkind*,
        saugling*, grundschule, kita, minderjahrig*, ado, ados, lycee, lyceen*, ecole primaire,
        maternelle, creche
        """
    ),
    "financial": _terms(
        """
        debt*, in debt, bankrupt*, foreclos*, eviction*, evicted, collections agency, debt collector*,
        payday loan*, behind on rent, behind on my rent, behind on payments, credit score, overdrawn,
        loan default, wage garnish*, deuda*, quiebra, bancarrota, desahucio*, schulden, verschuldet,
        insolvenz, privatinsolvenz, pfandung, zwangsraumung, dette*, endette*, surendettement, faillite,
        huissier*
        """
    ),
}

# Words that carry their own subject: a disclosure unless the sentence is about people in general.
SELF_CUE_TERMS: dict[str, tuple[str, ...]] = {
    "health": _terms(
        """
        diagnosed, diagnosis, diagnostiqu*, diagnosticad*, diagnostiziert, prescribed, blood test*,
        blood work, lab results, recetad*, verschrieben, prescrit*, my scan
        """
    ),
    "substance_use": _terms(
        """
        sober, relapse*, recovering alcoholic, recovering addict, days clean, months clean, years clean,
        recaida, rechute, ruckfall*
        """
    ),
    # Named drugs: "started Wellbutrin last week" drops the "I" but is still about the writer.
    "medication": _terms(
        """
        sertralin*, zoloft, fluoxetin*, prozac, citalopram, escitalopram, lexapro, paroxetin*, paxil,
        venlafaxin*, effexor, duloxetin*, cymbalta, bupropion, wellbutrin, mirtazapin*, trazodon*,
        lithium, litio, lamotrigin*, lamictal, quetiapin*, seroquel, aripiprazol*, abilify, risperidon*,
        olanzapin*, clozapin*, methylphenidat*, metilfenidato, ritalin, concerta, adderall, vyvanse,
        elvanse, lisdexamfetamin*, modafinil, xanax, alprazolam, lorazepam, ativan, diazepam, valium,
        clonazepam, klonopin, zolpidem, ambien, metformin*, ozempic, wegovy, semaglutid*, mounjaro,
        tirzepatid*, atorvastatin*, levothyrox*, prednison*, methotrexat*, truvada, naltrexon*,
        suboxone, methadon*, buprenorphin*, oxycodon*, oxycontin, fentanyl, tramadol, gabapentin*,
        pregabalin*
        """
    ),
    "legal": _terms(
        """
        got out of prison, released from prison, salido de prision, sorti de prison
        """
    ),
}

# Regex sources (over folded text) that are a disclosure wherever they appear.
DISCLOSURE_PHRASES: dict[str, tuple[str, ...]] = {
    "self_harm": (
        r"\b(?:kill|killing|hurt|hurting|harm|harming|cut|cutting) myself\b",
        r"\b(?:end|ending|take|taking) my (?:own )?life\b",
        r"\bend(?:ing)? it all\b",
        r"\b(?:want|wanna|wanted|going) to die\b",
        r"\bwish (?:i|that i) (?:was|were) dead\b",
        r"\bbetter off (?:dead|without me)\b",
        r"\b(?:no|any) reason to (?:live|go on|keep going)\b",
        r"\bnothing (?:left )?to live for\b",
        r"\b(?:don'?t|do not|dont) want to (?:live|be alive|be here|exist|wake up)\b",
        r"\b(?:not|never) (?:to )?wake up\b",
        r"\bdisappear (?:forever|for good)\b",
        r"\b(?:want|wanna) to disappear\b",
        r"\b(?:can'?t|cannot) go on\b",
        r"\bgive up on life\b",
        r"\bif i (?:was|were|wasn'?t|weren'?t) (?:gone|dead|not here|here no more|no longer here)\b",
        r"\bsi (?:yo )?(?:no estuviera|desapareciera|me muriera)\b",
        r"\bwenn ich nicht mehr (?:da )?(?:ware|waere|leben wurde|existieren wurde)\b",
        r"\bsi je n'?(?:etais|existais) plus\b",
        # es
        r"\bquitarme la vida\b",
        r"\bmatarme\b",
        r"\bno quiero (?:vivir|seguir viviendo|despertar)\b",
        r"\bquiero desaparecer\b",
        r"\bno (?:volver a )?despertar(?:me)?\b",
        r"\bquiero morir(?:me)?\b",
        r"\bquisiera morir(?:me)?\b",
        r"\bacabar con (?:todo|mi vida)\b",
        r"\bmejor sin mi\b",
        r"\bno tengo (?:razones|motivos) para vivir\b",
        r"\bhacerme dano\b",
        r"\bcortarme\b",
        # de
        r"\bmich (?:umbringen|toten|ritzen)\b",
        r"\bmir das leben (?:zu )?nehmen\b",
        r"\bnicht mehr (?:leben|aufwachen|da sein)\b",
        r"\b(?:will|mochte|wurde gern) sterben\b",
        r"\bsterben (?:will|mochte)\b",
        r"\bohne mich besser\b",
        r"\bmir (?:etwas|was) antun\b",
        r"\britze mich\b",
        # fr
        r"\bme (?:suicider|tuer)\b",
        r"\ben finir\b",
        r"\bmettre fin a (?:mes jours|ma vie)\b",
        r"\b(?:envie de|veux|voudrais) mourir\b",
        r"\bmieux sans moi\b",
        r"\bme faire du mal\b",
        r"\bplus envie de vivre\b",
        r"\bne (?:plus|pas) me reveiller\b",
    ),
    "mental_health": (
        r"\b(?:my|i have|i've had|i have had|i suffer from|i'm suffering from|i struggle with|i deal with"
        r"|struggling with|diagnosed with|tengo|sufro de|padezco|mi|ich habe|meine|j'ai|je souffre d')"
        r" (?:\w+ ){0,2}(?:anxiety|ansiedad|angste?|angstzustande|anxiete|angoisses?)\b",
        r"\b(?:my|i have|i get|i had) (?:a )?(?:panic|anxiety) attacks?\b",
    ),
    "ethnicity": (
        r"\b(?:i'?m|i am|as an?|being an?|we'?re|we are) (?:a )?(?:black|brown|asian|arab|jewish"
        r"|latino|latina|mixed|biracial|native|indigenous|aboriginal|roma)\b",
        r"\b(?:soy|somos) (?:negr[oa]|gitan[oa]|indigena|latin[oa]|arabe|afro\w*)\b",
        r"\b(?:ich bin|wir sind) (?:schwarz|schwarze[rn]?|jude|judin|roma|sinti|araber\w*)\b",
        r"\b(?:je suis|nous sommes) (?:noire?|arabe|maghrebine?|rom|gitane?|metisse?)\b",
    ),
    "sexual_orientation": (
        r"\b(?:not|no|came|come|coming) out (?:at work|to (?:my|the)|as)\b",
        r"\bmy (?:boyfriend|girlfriend|husband|wife) and i\b(?=.{0,40}\b(?:same[- ]sex|gay|lesbian))",
    ),
    "gender_identity": (
        r"\b(?:i'?m|i am|as an?|being|soy|ich bin|je suis) (?:a )?trans(?: (?:man|woman|person|guy"
        r"|girl|mujer|hombre|frau|mann|femme|homme))?\b",
        r"\bmy transition\b(?=.{0,40}\b(?:gender|hormone|name|pronoun))",
    ),
    "violence": (
        r"\b(?:partner|husband|wife|boyfriend|girlfriend|ex|father|mother|dad|mom|mum|parent|stepfather"
        r"|stepmother|he|she|they) (?:hits|hit|beats|beat|slaps|slapped|chokes|choked|kicks|kicked|punches"
        r"|punched|threatens|threatened|abuses|abused|rapes|raped|hurts|hurt) me\b",
        r"\b(?:me pega|me golpea|me maltrata|mich schlagt|schlagt mich|me frappe|me bat)\b",
    ),
    "trade_union": (
        r"\b(?:my|our|joined the|join the|in the|a member of the) union\b",
        r"\b(?:mi|nuestro) sindicato\b",
        r"\b(?:meine|unsere) gewerkschaft\b",
        r"\b(?:mon|notre) syndicat\b",
    ),
}


# Phrases that contain a term but name something else ("technical debt", "European Union"); they are
# matched before the terms so the term inside them does not count.
TERM_EXCEPTIONS: tuple[str, ...] = _terms(
    """
    a stroke of, baby boom, baby boomer*, bipolar transistor*, bipolar junction, cancer research*,
    technical debt, tech debt, sleep debt, design debt, digital detox, dopamine detox, european union,
    student union, credit union, soviet union, free trial, visa card, visa debit, trauma informed,
    mental health day, mental health days, sin embargo, cost breakdown, baby steps, baby step,
    kid gloves, teen spirit, symptoms of burnout, tumor board
    """
)

# Words too common to be worth a phrase search on their own.
_ANCHOR_STOPWORDS = frozenset(
    _terms(
        """
        the, and, any, not, was, were, are, you, your, for, with, that, this, have, has, had, all, off,
        own, out, one, going, want, wanna, dont, don't, being, never, nothing, left, keep, give, can,
        cannot, can't, who, mich, mir, mein, meine, nicht, mehr, das, ich, wir, sind, und, ist, ohne,
        gern, etwas, was, ich, dich, que, con, mis, sin, para, por, una, todo, tengo, quiero, pero, mas,
        moi, mes, les, des, une, pour, plus, pas, mon, sur, nous, sommes, suis, from, get, man, name,
        person, she, they, here, good, take, taking
        """
    )
)


def _anchor_words(pattern: str) -> tuple[str, ...]:
    """Distinctive literal words of a phrase regex ("(?:kill|killing) myself" → kill, killing, myself).

    A word that the regex continues ("afro\\w*", "negr[oa]", "angste?", "end(?:ing)?") becomes a
    stem ("afro*", "negr*", "angst*", "end*"), so the anchor is found whatever the ending.
    """
    words = []
    for word, follower in re.findall(r"([a-z']{3,})(\\w|\[|\(|\?)?", pattern.replace("\\b", " ")):
        if word in _ANCHOR_STOPWORDS:
            continue
        if follower == "?":
            word = word[:-1]
        words.append(word.rstrip("'") + "*" if follower else word)
    return tuple(dict.fromkeys(w for w in words if len(w.rstrip("*")) >= 3))


# Anchor words of DISCLOSURE_PHRASES: a category's phrase regex runs only on sentences holding one.
PHRASE_ANCHORS: dict[str, tuple[str, ...]] = {
    category: tuple(dict.fromkeys(w for p in phrases for w in _anchor_words(p)))
    for category, phrases in DISCLOSURE_PHRASES.items()
}

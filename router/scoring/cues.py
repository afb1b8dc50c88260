"""Cue words: who a sentence is about, which language it reads as, names, and complexity cues.

Entries are folded like those of ``lexicon`` (lower case, no accents, ``*`` = any continuation).
``lexicon`` says *what* a message may disclose; these lists say *whose* it is — the speaker ("I",
"my", "mi", "meine", "je"), a specific other person ("his", "my son"), or people in general
("employees", "someone"), which makes a topic abstract.
"""

from __future__ import annotations

from router.scoring.text import terms as _terms

# Person cues by language: someone specific is the subject ("I", "my son", "his", "mi", "meine", "je").
# Split by language because the same word is a cue in one and not in another (Spanish "son" = "they
# are", French "son" = "his"); English cues are always active.
PERSON_CUES: dict[str, tuple[str, ...]] = {
    "en": _terms(
        """
        as a, as an, being a, i, i'm, i've, i'd, i'll, me, my, mine, myself, we, we're, we've, our,
        ours, us, he, she, him, his, her, hers, he's, she's, himself, herself
        """
    ),
    "es": _terms(
        """
        yo, me, mi, mis, mio, mia, conmigo, nosotros, nosotras, nuestro, nuestra, nuestros, nuestras,
        ella, estoy, soy, tengo, tuve, tenia, tomo, sufro, padezco, llevo, vivo, fui, estuve, estaba,
        he, hemos, somos, estamos
        """
    ),
    "de": _terms(
        """
        ich, mich, mir, mein, meine, meinen, meinem, meiner, meines, wir, uns, unser, unsere, unseren,
        unserem, unserer, er, seine, seinen, seinem, seiner
        """
    ),
    "fr": _terms(
        """
        en tant que, je, j, moi, m, me, mon, ma, mes, nous, notre, nos, elle, son, sa, ses
        """
    ),
}

# Cue words that mean something else in another language: they count only in a sentence (or, failing
# that, a message) that reads as their language. Spanish "son" = "they are", "mes" = "month"; French
# "du" = "of the".
AMBIGUOUS_CUES: dict[str, str] = {"son": "fr", "mes": "fr", "du": "de"}

# Cues that identify the data subject in assistant turns (the assistant addresses the user).
ASSISTANT_CUES: dict[str, tuple[str, ...]] = {
    "en": _terms("you, your, you're, you've, yours, yourself"),
    "es": _terms("tu, tus, te, ti, contigo, usted, tienes, eres"),
    "de": _terms("du, dich, dir, dein, deine, deinen, deinem, deiner"),
    "fr": _terms("tu, te, toi, ton, ta, tes, vous, votre, vos"),
}

# Cues for system messages, which describe the user in the third person.
SYSTEM_CUES: tuple[str, ...] = _terms(
    """
    the user, the client, the coachee, the customer, the patient, the member, user's, client's,
    user profile, client profile, client notes, session notes, profile, user, client, patient, coachee,
    context, background, member notes, user notes, coachee notes, member profile, about the user,
    user info, user information, client info, el usuario, la usuaria, el cliente, la clienta, perfil,
    der nutzer, die nutzerin, klient, klientin, kunde, kundin, profil, l'utilisateur, l'utilisatrice,
    le client, la cliente
    """
)

# Frequent words that tell which language a sentence is in, to read AMBIGUOUS_CUES (so no English:
# none of the ambiguous cues is English).
LANGUAGE_MARKERS: dict[str, tuple[str, ...]] = {
    "es": _terms(
        "el, los, las, y, por, para, con, como, una, pero, muy, del, al, lo, quiero, puedo, esta, este, hay, "
        "donde, cuando, tambien, porque"
    ),
    "de": _terms(
        "der, die, das, und, ist, nicht, mit, ein, eine, zu, fur, auf, wie, den, dem, sich, kann, auch, "
        "noch, oder, aber, sehr, bitte, wenn"
    ),
    "fr": _terms(
        "le, les, des, et, est, une, du, pour, dans, qui, avec, pas, ne, sur, au, aux, ce, cette, suis, "
        "mais, tres, aussi, comment, quand"
    ),
}

# Children and pupils: with an age under 18 next to them, the request holds data about a minor.
CHILD_NOUNS: tuple[str, ...] = _terms(
    """
    son, sons, daughter, daughters, kid, kids, child, children, boy, girl, stepson, stepdaughter,
    grandson, granddaughter, nephew, niece, student, students, pupil, pupils, hijo, hija, hijos, hijas,
    nino, nina, ninos, ninas, nieto, nieta, sobrino, sobrina, alumno, alumna, alumnos, alumnas, sohn,
    sohne, tochter, kind, kinder, enkel, enkelin, neffe, nichte, schuler, schulerin, fils, fille,
    filles, enfant, enfants, neveu, eleve, eleves
    """
)

# Phrases whose "I"/"me" is the asker, not a data subject; matched first so their cue does not count.
NEUTRAL_PHRASES: tuple[str, ...] = _terms(
    """
    as a result, i'm a doctor, i am a doctor, as a doctor, i'm a lawyer, i am a lawyer, as a lawyer,
    i'm an attorney, as an attorney, i'm a therapist, as a therapist, i'm a psychologist,
    as a psychologist, i'm a psychiatrist, as a psychiatrist, soy abogado, soy abogada, soy medico,
    soy medica, ich bin anwalt, ich bin anwaltin, ich bin arzt, ich bin arztin, je suis avocat,
    je suis avocate, je suis medecin, when a user, if a user, when users, if users, the us, the u.s,
    i'm writing, i am writing, i'm researching, i am researching, tell me, give me, show me, teach me,
    explain to me, help me understand, let me know, i'd like to know, i would like to know,
    i'd like to understand, i want to know, i want to understand, i want to learn, i'd like to learn,
    i'm curious, i am curious, i wonder, i was wondering, can i learn, how do i learn, how can i learn,
    can you tell me, if the user, when the user, if the client, when the client, if a user, if someone,
    dime, me puedes, me podrias, puedes decirme, me gustaria saber, me gustaria entender, quiero saber,
    quiero entender, quiero aprender, erklar mir, erklare mir, sag mir, sage mir, gib mir, zeig mir,
    zeige mir, kannst du mir, konnen sie mir, ich mochte wissen, ich mochte verstehen, ich frage mich,
    explique moi, expliquez moi, dis moi, dites moi, donne moi, donnez moi, peux tu me, pouvez vous me,
    je voudrais savoir, je voudrais comprendre, je me demande, j'aimerais savoir, j'aimerais comprendre
    """
)

# People in general or as a group ("employees with depression", "LGBT colleagues", "my team during
# Ramadan", "someone with ADHD"). A term next to one describes the group, and a cue ("I", "my") with a
# group noun between it and the term is about the group, not about the speaker.
GROUP_NOUNS: tuple[str, ...] = _terms(
    """
    someone, somebody, anyone, anybody, everyone, everybody, people, a person, persons, individuals,
    folks, others, colleagues, coworkers, co workers, employees, staff, staff members, team, teams,
    team members, workers, managers, reports, direct reports, students, pupils, clients, customers,
    users, patients, members, candidates, applicants, new hires, volunteers, athletes, readers,
    audience, in general, generally, alguien, cualquiera, todos, la gente, personas, colegas,
    companeros, empleados, trabajadores, personal, equipo, alumnos, estudiantes, clientes, pacientes,
    candidatos, en general, jemand, jeder, menschen, leute, kollegen, kolleginnen, mitarbeiter,
    mitarbeitende, mitarbeiterinnen, belegschaft, team, schuler, kunden, patienten, im allgemeinen,
    allgemein, quelqu'un, tout le monde, les gens, personnes, collegues, employes, salaries, equipe,
    equipes, eleves, clients, patients, en general, book, books, article, articles, podcast,
    documentary, course, class, lecture, talk, presentation, essay, story, blog post, paper, research,
    study, video, movie, film, novel, report, workshop, training, seminar, webinar, campaign, charity,
    fundraiser, policy, policies, libro, articulo, curso, charla, presentacion, ensayo, investigacion,
    pelicula, taller, buch, artikel, kurs, vortrag, prasentation, studie, film, roman, seminar, livre,
    cours, conference, expose, etude, roman
    """
)

# Questions about a thing in general ("what is Ozempic?"): they make a self-cued term abstract.
ABSTRACT_QUESTIONS: tuple[str, ...] = _terms(
    """
    what is, what are, what's, how does, how do they, is it safe, que es, que son, como funciona,
    was ist, was sind, wie wirkt, qu'est ce que, c'est quoi, comment fonctionne
    """
)

POSSESSIVES: tuple[str, ...] = _terms(
    """
    my, our, his, her, their, mi, mis, nuestro, nuestra, nuestros, nuestras, sus, mein, meine, meinen,
    meinem, meiner, unser, unsere, unseren, unserem, unserer, seine, ihre, mon, ma, mes, notre, nos,
    ses, leurs
    """
)

# Common given names (EN, ES, DE, FR and frequent others) for "<Given> <Family>" anywhere in a text.
FIRST_NAMES: tuple[str, ...] = _terms(
    """
    Aaron, Adam, Adrian, Adriana, Ahmed, Aisha, Alan, Albert, Alberto, Alejandra, Alejandro, Alex,
    Alexander, Alexandra, Alexandre, Ali, Alice, Alicia, Alina, Amanda, Amelia, Amy, Ana, Andrea,
    Andreas, Andrew, Angela, Anna, Anne, Antoine, Antonio, Anya, Arjun, Ashley, Barbara, Ben, Benjamin,
    Bernd, Brian, Camille, Carla, Carlos, Carmen, Caroline, Catherine, Charles, Charlotte, Chloe, Chris,
    Christian, Christine, Christopher, Claire, Claudia, Daniel, Daniela, David, Diana, Diego, Dmitri,
    Elena, Elias, Elisa, Elizabeth, Ella, Emily, Emma, Eric, Erik, Eva, Fatima, Felix, Fernando,
    Florian, Francesca, Francisco, Frank, Gabriel, Gabriela, George, Giulia, Giuseppe, Grace, Hannah,
    Hans, Harry, Helen, Hugo, Ian, Ines, Isabel, Isabella, Ivan, Jack, Jacob, Jakob, James, Jan, Jane,
    Javier, Jean, Jenna, Jennifer, Jessica, Jonas, Johanna, John, Jonathan, Jorge, Jose, Josef, Joseph,
    Juan, Julia, Julian, Julie, Julien, Justin, Karen, Karim, Katharina, Kevin, Klaus, Laura, Lea, Leon,
    Leonie, Lisa, Louis, Louise, Lucas, Lucia, Lucy, Luis, Lukas, Luka, Manon, Manuel, Marc, Marco,
    Marcus, Margaret, Maria, Marie, Marina, Mario, Mark, Marta, Martin, Mary, Mateo, Mathieu, Matthew,
    Max, Maximilian, Maya, Mehmet, Melanie, Mia, Michael, Michelle, Miguel, Mohamed, Mohammed, Monica,
    Natalia, Nathalie, Nicolas, Nicole, Nina, Noah, Nora, Oliver, Olivia, Omar, Pablo, Patricia,
    Patrick, Paul, Paula, Pedro, Peter, Philippe, Pierre, Priya, Rachel, Rafael, Rahul, Raquel, Rebecca,
    Richard, Robert, Roberto, Rosa, Ryan, Sam, Samuel, Sandra, Sara, Sarah, Sebastian, Sergio, Simon,
    Sofia, Sophie, Stefan, Stephanie, Steven, Susan, Sven, Thomas, Tim, Tobias, Tom, Tomas, Tomasz,
    Valentina, Vanessa, Victor, Victoria, Vincent, William, Wolfgang, Yusuf, Zoe
    """
)

# Capitalised words that follow "I'm", "my colleague" … but are not names.
NOT_NAMES: frozenset[str] = frozenset(
    w.lower()
    for w in _terms(
        """
        I, A, An, The, OK, Okay, Sorry, Not, So, Here, Back, Done, Fine, Good, New, Happy, Ready, Just,
        Also, Really, Still, Very, Too, About, Going, Trying, Looking, Hoping, Working, Currently,
        Monday, Tuesday, Wednesday, Thursday, Friday, Saturday, Sunday, January, February, March, April,
        May, June, July, August, September, October, November, December, Lunes, Martes, Jueves, Viernes,
        Montag, Dienstag, Mittwoch, Donnerstag, Freitag, Samstag, Sonntag, Lundi, Mardi, Mercredi,
        Jeudi, Vendredi, Samedi, Dimanche, American, British, English, Scottish, Irish, Welsh, Canadian,
        Australian, German, French, Spanish, Italian, Portuguese, Dutch, Belgian, Swiss, Austrian,
        Swedish, Norwegian, Danish, Finnish, Polish, Czech, Russian, Ukrainian, Greek, Turkish, Chinese,
        Japanese, Korean, Vietnamese, Thai, Indian, Pakistani, Nigerian, Kenyan, Mexican, Brazilian,
        Argentinian, Colombian, Chilean, Peruvian, Cuban, Filipino, Iranian, Syrian, Lebanese, Israeli,
        Palestinian, African, European, Asian, Latin, Latino, Latina, Hispanic, Arab, Black, White,
        Jewish, Muslim, Christian, Catholic, Hindu, Buddhist, Sikh, Atheist, Protestant, Mormon, Gay,
        Lesbian, Bi, Trans, Queer, Deutsch, Deutscher, Deutsche, Google, Microsoft, Apple, Amazon,
        Python, Java, Excel, Slack, Zoom, Teams, Notion, Jira, LinkedIn, Outlook, Gmail, CEO, CTO, VP,
        QA, HR, PM, Manager, Engineer, Developer, Lead, Director, Team, Meeting, Meetings, Termine,
        Arbeit, Projekt, Projekte, Mails, Zeit, Woche, Stress, Feedback, Bescheid, Hilfe, Kunde, Kunden,
        Dr, Mr, Mrs, Ms, Mx, Prof, Herr, Frau, Sr, Sra, Srta, Mme, Mlle
        """
    )
)

# Words next to an age: "14-year-old", "14 ans", "15-jährige", "12 años de edad".
AGE_ANCHORS: tuple[str, ...] = _terms("year, years, yr, yrs, yo, y/o, jahrig*, anos, ans")

# Openings of "I'm 16", "tengo 15 años", "ich bin 15", "j'ai 15 ans".
SELF_AGE_INTROS: tuple[str, ...] = _terms("i'm, i am, i just turned, i turned, tengo, ich bin, j'ai, im")

# Complexity signals (see complexity.py): kind → words. "domain:<name>" kinds name a specialist domain.
COMPLEXITY_WORDS: dict[str, tuple[str, ...]] = {
    "reasoning": (
        "analy*", "evaluat*", "compar*", "contrast*", "trade off*", "tradeoff*", "justif*", "reason*",
        "why", "root cause*", "hypothes*", "sensitivity analysis", "step by step", "pros and cons",
        "implication*", "strateg*", "prioriti*", "recommend*", "decision*", "decid*", "weigh*",
        "assess*", "critique*", "consider*", "risk*", "mitigat*", "diagnos*", "statistic*", "evidence",
        "falsifiable", "when to use", "interpret*", "analiza*", "compara*", "evalua*", "por que",
        "paso a paso", "ventajas", "desventajas", "riesgo*", "analysier*", "vergleich*", "bewerte*",
        "begrund*", "warum", "schritt fur schritt", "risiko*", "analyse*", "evalue*", "pourquoi",
        "etape par etape", "risque*",
    ),
    "tasks": (
        "build*", "design*", "create*", "propose*", "identify*", "write*", "list*", "draft*", "plan*",
        "outline*", "summari*", "estimate*", "schedule*", "combine*", "suggest*", "include*", "cover*",
        "develop*", "measure*", "adapt*", "lay out", "map out", "break down", "explain*", "construct*",
        "crea*", "disena*", "propon*", "identifica*", "escribe*", "resume*", "incluye*", "construye*",
        "explica*", "erstell*", "entwirf*", "entwickle*", "schreib*", "plane*", "nenne*",
        "identifiziere*", "erklar*", "construis*", "redige*", "ecris*", "identifie*", "planifie*",
        "explique*",
    ),
    "structure": (
        "plan", "plans", "weekly", "milestone*", "template*", "curriculum", "framework*", "matrix",
        "metric*", "kpi*", "checkpoint*", "roadmap*", "timeline*", "program*", "indicator*", "criteria",
        "phase*", "week by week", "semanal*", "hito*", "wochentlich*", "meilenstein*", "hebdomadaire*",
        "jalon*", "calendrier",
    ),
    "code": (
        "python", "javascript", "typescript", "sql", "script", "code", "function", "regex", "api", "csv",
        "json", "bash", "excel formula", "algorithm", "debug*", "compile*",
    ),
    "brevity": (
        "quick", "quickly", "short", "brief", "briefly", "one paragraph", "one sentence", "two sentence",
        "simple", "in a nutshell", "one word", "tl;dr", "rapido", "breve", "corto", "kurz", "kurze",
        "rapide", "court", "courte",
    ),
    "domain:legal": (
        "contract*", "lawsuit*", "lawyer*", "attorney*", "court", "custody", "divorce*", "visa",
        "immigration", "liabilit*", "gdpr", "compliance", "non compete", "severance", "litigation",
        "legal*", "dui", "abogad*", "contrato*", "vertrag*", "anwalt*", "klage", "avocat*", "contrat*",
        "juridique*",
    ),
    "domain:medical": (
        "diagnos*", "medication*", "symptom*", "dosage", "dose", "diabet*", "hba1c", "glucose",
        "depress*", "anxiety", "adhd", "bipolar", "chemo*", "therap*", "psychiatr*", "doctor",
        "clinical", "blood pressure", "bmi", "pregnan*", "sertralin*", "antidepress*", "insulin",
        "medical*", "sintoma*", "krank*", "arzt*", "medecin*", "maladie*",
    ),
    "domain:financial": (
        "budget*", "debt*", "loan*", "mortgage*", "interest", "invest*", "portfolio*", "tax*",
        "retirement", "401k", "ira", "pension*", "savings", "credit card*", "stock*", "equity",
        "valuation", "cash flow", "deuda*", "presupuesto*", "inversion*", "impuesto*", "schulden",
        "steuer*", "investition*", "dette*", "impot*", "epargne",
    ),
    "domain:technical": (
        "python", "javascript", "sql", "database*", "kubernetes", "docker", "api", "architecture",
        "algorithm*", "microservice*", "latency", "deploy*", "server*", "machine learning",
        "statistical power", "regression", "csv", "script", "code", "backend", "frontend",
        "infrastructure", "datenbank*", "base de datos",
    ),
}  # fmt: skip

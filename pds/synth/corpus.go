package synth

// language is the material posts, profiles and alt texts in one language
// are made from. Sentences must contain nothing DetectFacets would take for
// a facet ('@', '#', URLs, bare domains): the generator adds facets itself
// and the tests check that detection finds exactly those.
type language struct {
	code      string // BCP 47, for the post's langs
	sentences []string
	tags      []string // hashtags without '#'
	alts      []string // image alt texts
	first     []string // display-name parts
	last      []string
	bios      []string
	cards     []card // link-card titles and descriptions
}

type card struct{ title, description string }

// emoji are appended to some posts. They include multi-rune sequences (a
// ZWJ family, a flag, a skin tone) so facet offsets after them are tested
// with more than one rune per visible character.
var emoji = []string{"🎉", "☕", "🌧️", "🔥", "📷", "👩‍👩‍👧", "🇧🇷", "👍🏽", "🙂", "✨", "🍜", "⚽"}

// linkHosts and linkPaths make the URLs of link facets and link cards.
// They use the reserved example domains so nothing real is ever linked.
var (
	linkHosts = []string{"example.com", "www.example.org", "blog.example.net", "news.example.com"}
	linkPaths = []string{"articles", "2024/10/notes", "p", "watch", "wiki/Special", "posts"}
)

var languages = []language{
	{
		code: "en",
		sentences: []string{
			"Just finished a long walk by the river and the light was unreal.",
			"Hot take: the best coffee is the one someone else makes for you.",
			"Finally fixed that flaky test. It was a race condition, of course.",
			"Anyone else reading something good this week?",
			"The bakery on the corner sold out of sourdough before nine again.",
			"Rainy Sunday, warm soup, old records. Perfect.",
			"Shipping a small release today, nothing dramatic, just steady progress.",
			"My cat has decided the keyboard is the warmest place in the house.",
			"Trying to learn the guitar at thirty-five. My fingers disagree.",
			"Thread on why distributed systems are mostly about waiting.",
		},
		tags:  []string{"photography", "atproto", "100DaysOfCode", "gardening", "bookclub", "catsofbluesky"},
		alts:  []string{"A river at sunset", "Close-up of a latte with foam art", "A cat asleep on a keyboard", "Rows of bread loaves on a shelf"},
		first: []string{"Alice", "Ben", "Chloe", "Daniel", "Emma", "Frank"},
		last:  []string{"Walker", "Chen", "Okafor", "Murphy", "Patel", "Nguyen"},
		bios: []string{
			"Software, bread and long walks. Opinions my own.",
			"Photographer of small things. Tea over coffee.",
			"Writing about cities, trains and the people in them.",
		},
		cards: []card{
			{"How we cut our build times in half", "Notes from a year of tuning a monorepo."},
			{"A field guide to city birds", "Twenty species you can spot from a bus stop."},
		},
	},
	{
		code: "pt",
		sentences: []string{
			"Hoje o café da padaria estava perfeito, não vou mentir.",
			"Alguém mais acordou com esse frio? Inverno chegou de verdade.",
			"Terminei o livro ontem à noite e ainda estou pensando no final.",
			"O jogo de ontem foi sofrido, mas valeu cada minuto.",
			"Feira de domingo: manga, pão de queijo e conversa boa.",
			"Aprendendo a programar em Go e gostando muito da simplicidade.",
			"Chuva em São Paulo, trânsito parado, paciência infinita.",
			"Receita de bolo de fubá da minha avó, sem segredo nenhum.",
		},
		tags:  []string{"futebol", "café", "SãoPaulo", "música", "leitura"},
		alts:  []string{"Um bolo de fubá sobre a mesa", "Rua molhada depois da chuva", "Estádio lotado à noite"},
		first: []string{"João", "Ana", "Lúcia", "Pedro", "Beatriz"},
		last:  []string{"Souza", "Oliveira", "Conceição", "Araújo", "Lima"},
		bios: []string{
			"Carioca, programadora e fã de samba.",
			"Fotografia, futebol e café coado.",
		},
		cards: []card{
			{"Guia de cafés do centro", "Vinte lugares para tomar um bom café."},
		},
	},
	{
		code: "ja",
		sentences: []string{
			"今日は朝から雨で、家でゆっくり本を読んでいます。",
			"新しいカフェに行ってみたら、ケーキがとても美味しかった！",
			"駅前の桜がもう咲き始めていました。春ですね。",
			"週末は友達とラーメンを食べに行く予定です。",
			"やっとバグが直った…三時間かかりました。",
			"夜の散歩は静かで気持ちがいい。",
			"猫がキーボードの上で寝ているので仕事ができません。",
		},
		tags:  []string{"東京", "写真", "ラーメン", "猫", "読書"},
		alts:  []string{"雨の日の窓", "ラーメンの丼", "桜の木の下のベンチ"},
		first: []string{"さくら", "ゆうき", "はると", "あおい"},
		last:  []string{"佐藤", "鈴木", "高橋", "田中"},
		bios: []string{
			"東京在住。写真と散歩が好きです。",
			"エンジニア。コーヒーと猫。",
		},
		cards: []card{
			{"東京のおすすめ散歩道", "週末に歩きたい十のコース。"},
		},
	},
	{
		code: "de",
		sentences: []string{
			"Heute endlich wieder Sonne. Ab in den Park!",
			"Der Zug hatte natürlich wieder zwanzig Minuten Verspätung.",
			"Frische Brötchen am Samstagmorgen sind einfach unschlagbar.",
			"Gerade einen schönen Artikel über Stadtplanung gelesen.",
			"Wer hat Tipps für gute Wanderwege im Schwarzwald?",
			"Feierabend. Jetzt nur noch Tee und ein gutes Buch.",
			"Die Katze schläft, also arbeite ich leise weiter.",
		},
		tags:  []string{"Berlin", "Wandern", "Fußball", "Kaffee", "Bücher"},
		alts:  []string{"Ein Korb mit frischen Brötchen", "Wanderweg im Nebel", "Bahnsteig am Abend"},
		first: []string{"Jürgen", "Lena", "Matthias", "Sophie", "Jörg"},
		last:  []string{"Müller", "Schmidt", "Weiß", "Fischer", "Groß"},
		bios: []string{
			"Entwicklerin aus Hamburg. Fahrrad, Kaffee, Nordsee.",
			"Bücherwurm und Hobbygärtner.",
		},
		cards: []card{
			{"Die schönsten Radwege an der Elbe", "Ein Wochenende zwischen Dresden und Hamburg."},
		},
	},
	{
		code: "es",
		sentences: []string{
			"¡Qué partido tan bueno anoche! Todavía no me lo creo.",
			"Hoy toca paella con la familia, como cada domingo.",
			"¿Alguien sabe de una buena librería en el centro?",
			"Por fin terminé el proyecto. Ahora, a descansar un poco.",
			"La lluvia de esta mañana dejó la ciudad preciosa.",
			"Aprendiendo a hacer pan en casa, con resultados variados.",
			"Mi perro ha descubierto la nieve y está feliz.",
		},
		tags:  []string{"fútbol", "música", "Madrid", "cocina", "viajes"},
		alts:  []string{"Una paella grande en la mesa", "Un perro corriendo en la nieve", "Calle antigua con farolas"},
		first: []string{"María", "José", "Lucía", "Andrés", "Sofía"},
		last:  []string{"García", "Martínez", "Pérez", "Núñez", "Gómez"},
		bios: []string{
			"Periodista, viajera y amante del café.",
			"Desarrollador en Sevilla. Música y fútbol.",
		},
		cards: []card{
			{"Diez rutas por los Pirineos", "Caminatas para todos los niveles."},
		},
	},
	{
		code: "fr",
		sentences: []string{
			"Un café en terrasse, un peu de soleil, et tout va mieux.",
			"Le marché du samedi matin, c'est mon petit rituel.",
			"Quelqu'un a vu le dernier film dont tout le monde parle ?",
			"Enfin fini ce rapport ! Je vais me promener.",
			"Il pleut encore à Paris, quelle surprise.",
			"J'apprends la céramique et c'est plus difficile que prévu.",
			"Ce soir : crêpes, film et couverture.",
		},
		tags:  []string{"Paris", "cinéma", "été", "cuisine", "lecture"},
		alts:  []string{"Une terrasse de café au soleil", "Des crêpes sur une assiette", "Un bol en céramique fait main"},
		first: []string{"Élodie", "François", "Camille", "Théo", "Amélie"},
		last:  []string{"Dubois", "Lefèvre", "Moreau", "Bérénger", "Girard"},
		bios: []string{
			"Illustratrice à Lyon. Chats, thé et bandes dessinées.",
			"Développeur, cycliste du dimanche.",
		},
		cards: []card{
			{"Les meilleurs marchés de Paris", "Une balade gourmande d'un arrondissement à l'autre."},
		},
	},
	{
		code: "ko",
		sentences: []string{
			"오늘 날씨가 정말 좋네요. 산책하기 딱 좋은 날!",
			"새로 생긴 카페 커피가 생각보다 맛있어요.",
			"주말에는 친구들이랑 한강에서 치킨 먹기로 했어요.",
			"드디어 프로젝트 끝! 이제 좀 쉬어야겠다.",
			"비 오는 날에는 역시 파전이죠.",
			"요즘 읽고 있는 책이 너무 재미있어요.",
		},
		tags:  []string{"서울", "커피", "여행", "사진", "맛집"},
		alts:  []string{"한강 공원의 노을", "테이블 위의 커피 한 잔", "비 오는 거리"},
		first: []string{"민준", "서연", "지훈", "하은"},
		last:  []string{"김", "이", "박", "최"},
		bios: []string{
			"서울에서 개발하고 있어요. 커피 좋아해요.",
			"사진 찍는 걸 좋아하는 여행자.",
		},
		cards: []card{
			{"서울 골목 카페 지도", "조용히 커피 마시기 좋은 곳들."},
		},
	},
}

//! Tests of the topic engine over the shipped profile: relevance and event
//! per language, negative contexts, chip-name normalisation, CJK and mixed
//! text, determinism, profile errors, and property tests.
//!
//! Every headline and summary here is invented for the test.

use std::sync::OnceLock;

use proptest::prelude::*;

use super::normalize::{is_word_char, normalise, normalise_term};
use super::*;
use crate::model::Reference;

fn profile() -> &'static Profile {
    static PROFILE: OnceLock<Profile> = OnceLock::new();
    PROFILE.get_or_init(Profile::builtin)
}

fn run(title: &str, summary: &str, lang: Option<&str>) -> Decision<'static> {
    classify(profile(), &Input { title, summary, lang })
}

/// What the engine found, for failure messages.
fn explain(d: &Decision) -> String {
    d.evidence_json(profile()).to_string()
}

/// Classify with the shipped profile and compare relevance, event and chips
/// (normalised names, in order of first mention).
#[track_caller]
fn check(
    title: &str,
    summary: &str,
    lang: &str,
    expect_relevant: bool,
    expect_event: Option<&str>,
    expect_chips: &[&str],
) {
    let lang = (!lang.is_empty()).then_some(lang);
    let d = run(title, summary, lang);
    let event = d.event.map(EventType::as_str);
    assert!(
        d.relevant == expect_relevant && event == expect_event && d.chips() == expect_chips,
        "\n  title:   {title}\n  summary: {summary}\n  lang:    {lang:?}\n  \
         expected relevant={expect_relevant} event={expect_event:?} chips={expect_chips:?}\n  \
         got      relevant={} event={event:?} chips={:?}\n  {}\n",
        d.relevant,
        d.chips(),
        explain(&d),
    );
}

/// Only the chip names (the relevance of these is tested elsewhere).
#[track_caller]
fn check_chips(title: &str, summary: &str, lang: &str, expect_chips: &[&str]) {
    let d = run(title, summary, (!lang.is_empty()).then_some(lang));
    assert_eq!(
        d.chips(),
        expect_chips,
        "\n  title:   {title}\n  summary: {summary}\n  {}\n",
        explain(&d)
    );
}

/// One `#[test]` per case, so that every failing case is reported.
macro_rules! cases {
    ($($name:ident: ($title:expr, $summary:expr, $lang:expr, $rel:expr, $event:expr, $chips:expr $(,)?);)*) => {
        $(
            #[test]
            fn $name() {
                check($title, $summary, $lang, $rel, $event, $chips);
            }
        )*
    };
}

// ---------------------------------------------------------------- English

cases! {
    en_approval: (
        "US grants Nvidia licences to ship H20 chips to China",
        "The Commerce Department has approved export licences for Nvidia's H20 accelerator, \
         clearing the way for sales to Chinese customers to resume after a three-month halt.",
        "en", true, Some("approval"), &["H20"],
    );
    en_restriction: (
        "US adds 140 Chinese chip firms to entity list in new export crackdown",
        "The Bureau of Industry and Security placed Naura, Piotech and 138 other companies on \
         the entity list, cutting them off from American chipmaking equipment.",
        "en", true, Some("restriction"), &[],
    );
    en_enforcement: (
        "Two Chinese nationals charged with smuggling Nvidia GPUs to China",
        "Federal prosecutors in California said the pair shipped tens of millions of dollars' \
         worth of H100 servers through Malaysia in violation of US export controls.",
        "en", true, Some("enforcement"), &["H100"],
    );
    en_retaliation_antitrust: (
        "China opens antitrust probe into Qualcomm as chip tensions escalate",
        "China's market regulator said it was investigating the US chipmaker's purchase of an \
         Israeli firm, a move seen as a response to fresh US export controls on Chinese chipmakers.",
        "en", true, Some("retaliation"), &[],
    );
    en_retaliation_minerals: (
        "Beijing bans gallium and germanium exports to the United States",
        "China's commerce ministry said shipments of the chipmaking metals to American buyers \
         would no longer be licensed, days after Washington widened its chip controls.",
        "en", true, Some("retaliation"), &[],
    );
    en_market: (
        "Nvidia readies cut-down Blackwell chip for China to fit export rules",
        "The B30A, a single-die variant of the B300, would sell below the performance \
         threshold set by Washington, people familiar with the matter said.",
        "en", true, Some("market"), &["B30A", "B300"],
    );
    en_analysis: (
        "Analysis: Why US chip export controls have failed to slow China's AI ambitions",
        "Experts say home-grown accelerators and smuggled GPUs have kept Chinese labs close to \
         the frontier, raising doubts about Washington's strategy.",
        "en", true, Some("analysis"), &[],
    );
}

// ---------------------------------------------------------------- French

cases! {
    fr_approval: (
        "Washington autorise Nvidia à vendre ses puces H20 en Chine",
        "Le département du Commerce a accordé les licences d'exportation nécessaires, selon le \
         fabricant américain, qui prévoit une reprise des ventes dans les prochaines semaines.",
        "fr", true, Some("approval"), &["H20"],
    );
    fr_restriction: (
        "Les Pays-Bas durcissent les contrôles à l'exportation des machines ASML vers la Chine",
        "Le gouvernement néerlandais soumet désormais à licence l'exportation de certains \
         systèmes de lithographie DUV, une mesure réclamée par Washington.",
        "fr", true, Some("restriction"), &["DUV"],
    );
    fr_enforcement: (
        "Trois hommes inculpés pour contrebande de puces Nvidia vers la Chine",
        "Selon le ministère américain de la Justice, ils auraient expédié des processeurs \
         graphiques via Singapour en violation des contrôles à l'exportation.",
        "fr", true, Some("enforcement"), &[],
    );
    fr_retaliation: (
        "La Chine riposte en restreignant les exportations de gallium et de germanium",
        "Pékin impose un régime de licences sur ces métaux indispensables aux semi-conducteurs, \
         en représailles aux restrictions américaines.",
        "fr", true, Some("retaliation"), &[],
    );
    fr_market: (
        "Nvidia prépare une version bridée de sa puce Blackwell pour la Chine",
        "Cette variante, conçue pour respecter les contrôles à l'exportation américains, \
         pourrait être commercialisée dès l'automne auprès des géants chinois du cloud.",
        "fr", true, Some("market"), &[],
    );
    fr_analysis: (
        "Analyse : pourquoi les sanctions américaines n'arrêtent pas l'essor des puces chinoises",
        "Huawei et SMIC progressent malgré les restrictions, une tendance qui inquiète Washington.",
        "fr", true, Some("analysis"), &[],
    );
}

// ---------------------------------------------------------------- German

cases! {
    de_approval: (
        "USA genehmigen Nvidia den Export von H20-Chips nach China",
        "Das US-Handelsministerium hat die beantragten Lizenzen erteilt; Nvidia darf wieder an \
         chinesische Kunden liefern.",
        "de", true, Some("approval"), &["H20"],
    );
    de_restriction: (
        "Niederlande verschärfen Exportkontrollen für ASML-Anlagen nach China",
        "Künftig benötigt ASML auch für ältere DUV-Belichtungsmaschinen eine \
         Ausfuhrgenehmigung, teilte die Regierung in Den Haag mit.",
        "de", true, Some("restriction"), &["DUV"],
    );
    de_enforcement: (
        "Chip-Schmuggel nach China: Zwei Manager in Singapur angeklagt",
        "Die Staatsanwaltschaft wirft ihnen vor, Server mit Nvidia-Grafikprozessoren über \
         Malaysia nach China umgeleitet zu haben.",
        "de", true, Some("enforcement"), &[],
    );
    de_retaliation: (
        "China kontert US-Sanktionen mit Exportstopp für Gallium und Germanium",
        "Peking verbietet die Ausfuhr der für die Halbleiterfertigung wichtigen Metalle in die \
         USA – eine Vergeltung für die jüngsten Chip-Beschränkungen.",
        "de", true, Some("retaliation"), &[],
    );
    de_market: (
        "Nvidia entwickelt abgespeckten KI-Chip für China, um US-Exportregeln zu umgehen",
        "Analysten erwarten Bestellungen von Alibaba und Tencent, sobald die China-Variante im \
         Herbst ausgeliefert wird.",
        "de", true, Some("market"), &[],
    );
    de_analysis: (
        "Analyse: Warum die US-Exportkontrollen Chinas Chipindustrie nicht bremsen",
        "Huawei und SMIC holen trotz der Sanktionen auf, sagen Experten.",
        "de", true, Some("analysis"), &[],
    );
}

// ---------------------------------------------------------------- Spanish

cases! {
    es_approval: (
        "EE. UU. autoriza a Nvidia a vender sus chips H20 a China",
        "El Departamento de Comercio aprobó las licencias de exportación tras meses de espera, \
         según la compañía.",
        "es", true, Some("approval"), &["H20"],
    );
    es_restriction: (
        "Estados Unidos endurece las restricciones a la exportación de chips a China",
        "Las nuevas normas prohíben la venta de equipos de litografía avanzada y añaden 140 \
         empresas chinas a la lista de entidades.",
        "es", true, Some("restriction"), &[],
    );
    es_enforcement: (
        "Detenidos tres empresarios por contrabando de chips de Nvidia hacia China",
        "La fiscalía estadounidense los acusa de desviar servidores con GPU a través de \
         Singapur y Malasia.",
        "es", true, Some("enforcement"), &[],
    );
    es_retaliation: (
        "China responde a Washington con controles a la exportación de galio y germanio",
        "Pekín exigirá licencias para exportar estos metales, clave para fabricar \
         semiconductores, en represalia por las sanciones estadounidenses.",
        "es", true, Some("retaliation"), &[],
    );
    es_market: (
        "Nvidia prepara una versión para China de su chip Blackwell que cumple las restricciones",
        "La compañía teme perder cuota de mercado frente a Huawei y espera recuperar los \
         pedidos de los gigantes tecnológicos chinos.",
        "es", true, Some("market"), &[],
    );
    es_analysis: (
        "Análisis: por qué las sanciones de EE. UU. no frenan a la industria china de chips",
        "Los expertos creen que Huawei y SMIC seguirán avanzando pese a los controles de \
         exportación.",
        "es", true, Some("analysis"), &[],
    );
}

// ---------------------------------------------------------------- Chinese

cases! {
    zh_approval: (
        "美国商务部批准英伟达向中国出口H20芯片",
        "英伟达表示，美方已发放许可，公司将恢复对华销售H20芯片。",
        "zh", true, Some("approval"), &["H20"],
    );
    zh_restriction: (
        "美国升级对华芯片出口管制 140家中国企业被列入实体清单",
        "美国商务部工业与安全局发布新规，限制向中国出口先进半导体制造设备和高带宽存储器（HBM）。",
        "zh", true, Some("restriction"), &["HBM"],
    );
    zh_enforcement: (
        "两名中国公民因走私英伟达芯片在美被起诉",
        "美国司法部称，两人涉嫌通过马来西亚转运价值数千万美元的H100芯片，违反美国出口管制规定。",
        "zh", true, Some("enforcement"), &["H100"],
    );
    zh_retaliation: (
        "中国对美实施镓、锗出口管制 反制美方芯片打压",
        "商务部宣布，原则上不予许可镓、锗、锑、超硬材料相关两用物项对美国出口。",
        "zh", true, Some("retaliation"), &[],
    );
    zh_market: (
        "英伟达为中国市场推出特供版芯片B30A",
        "新芯片性能低于美国出口管制门槛，预计将获得阿里巴巴、腾讯等大客户订单。",
        "zh", true, Some("market"), &["B30A"],
    );
    zh_analysis: (
        "观察：美国芯片出口管制为何难以遏制中国AI发展",
        "专家认为，华为昇腾芯片和国产替代正在缩小与英伟达的差距。",
        "zh", true, Some("analysis"), &[],
    );
}

// ---------------------------------------------------------------- Japanese

cases! {
    ja_approval: (
        "米政府、エヌビディアの対中H20輸出を容認",
        "米商務省は中国向けH20の輸出許可を出し、エヌビディアは販売再開に向けて準備を進める。",
        "ja", true, Some("approval"), &["H20"],
    );
    ja_restriction: (
        "米国、中国への半導体製造装置の輸出規制を強化",
        "新たな規制では、先端半導体の製造に使う露光装置やHBMの対中輸出に許可が必要となる。",
        "ja", true, Some("restriction"), &["HBM"],
    );
    ja_enforcement: (
        "エヌビディア製GPUを中国に不正輸出、容疑者3人を逮捕",
        "警視庁によると、3人はシンガポールを経由して半導体を迂回輸出した疑いが持たれている。",
        "ja", true, Some("enforcement"), &[],
    );
    ja_retaliation: (
        "中国、対米報復でガリウムとゲルマニウムの輸出を禁止",
        "米国による半導体輸出規制の強化に対する対抗措置とみられる。",
        "ja", true, Some("retaliation"), &[],
    );
    ja_market: (
        "エヌビディア、中国市場向けに新型AI半導体を投入へ　米輸出規制に対応",
        "性能を抑えた廉価版で、アリババなど中国のクラウド大手からの受注を見込む。",
        "ja", true, Some("market"), &[],
    );
    ja_analysis: (
        "解説：米国の対中半導体規制はなぜ効かないのか",
        "専門家は、ファーウェイの国産チップ開発が想定以上に進んでいると指摘する。",
        "ja", true, Some("analysis"), &[],
    );
}

// ---------------------------------------------------------------- Polish

cases! {
    pl_approval: (
        "USA zgodziły się na eksport chipów Nvidia H20 do Chin",
        "Departament Handlu przyznał licencje eksportowe, dzięki czemu Nvidia może sprzedawać \
         układy klientom w Chinach.",
        "pl", true, Some("approval"), &["H20"],
    );
    pl_restriction: (
        "Holandia zaostrza kontrolę eksportu maszyn ASML do Chin",
        "Nowe przepisy nakładają obowiązek uzyskania licencji na sprzedaż starszych systemów \
         litografii DUV chińskim klientom.",
        "pl", true, Some("restriction"), &["DUV"],
    );
    pl_enforcement: (
        "Prokuratura w USA oskarża dwóch Chińczyków o przemyt chipów Nvidii",
        "Według aktu oskarżenia mężczyźni wysłali do Chin serwery z procesorami graficznymi \
         H100 przez Malezję.",
        "pl", true, Some("enforcement"), &["H100"],
    );
    pl_retaliation: (
        "Chiny w odwecie ograniczają eksport galu i germanu do USA",
        "Pekin uzasadnia decyzję bezpieczeństwem narodowym; to reakcja na amerykańskie sankcje \
         wobec chińskich producentów półprzewodników.",
        "pl", true, Some("retaliation"), &[],
    );
    pl_market: (
        "Nvidia opracowała specjalną wersję chipa dla Chin, by obejść amerykańskie ograniczenia",
        "Nowy układ ma trafić do chińskich klientów jeszcze w tym kwartale; firma liczy na \
         zamówienia od Alibaby i Tencenta.",
        "pl", true, Some("market"), &[],
    );
    pl_analysis: (
        "Analiza: dlaczego sankcje USA nie zatrzymały chińskiego przemysłu chipów",
        "Eksperci wskazują, że Huawei i SMIC szybko nadrabiają zaległości.",
        "pl", true, Some("analysis"), &[],
    );
}

// ---------------------------------------------------------------- negative contexts
// Each carries a China angle and a control word, so that only the negative
// context keeps it out.

cases! {
    negative_potato_chips: (
        "Chinese snack maker expands potato chip exports to US despite tariff curbs",
        "The company ships 40,000 tonnes of potato chips a year to American supermarkets.",
        "en", false, None, &[],
    );
    negative_tortilla_chips: (
        "China bans imports of US tortilla chips over labelling rules",
        "Customs officials said several brands of tortilla chips failed to list additives.",
        "en", false, None, &[],
    );
    negative_chocolate_chips: (
        "Beijing lifts ban on American chocolate chip cookies",
        "China's customs agency approved imports from three US bakeries.",
        "en", false, None, &[],
    );
    negative_casino_chips: (
        "Macau casinos report record rolling chip volume despite Beijing crackdown",
        "VIP gaming revenue rose 12% even as China restricts junket operators.",
        "en", false, None, &[],
    );
    negative_poker_chips: (
        "Hong Kong customs seize counterfeit poker chips smuggled from China",
        "Officers found 20,000 fake chips bound for an underground gambling den.",
        "en", false, None, &[],
    );
    negative_chip_and_pin: (
        "China UnionPay expands chip-and-PIN cards in the US after regulators approve rollout",
        "American merchants will accept the chip cards from next year.",
        "en", false, None, &[],
    );
    negative_blue_chip_stocks: (
        "China blue-chip stocks fall as US sanctions fears return",
        "The CSI 300 index of Shanghai and Shenzhen blue chips dropped 1.8% as regulators \
         stepped in.",
        "en", false, None, &[],
    );
    negative_golf_chip_shot: (
        "Chinese golfer's chip shot seals win in Shanghai after US rival is banned for slow play",
        "Her chip-in for birdie on the 18th hole clinched a place at the US Open.",
        "en", false, None, &[],
    );
    negative_bargaining_chip: (
        "US soybean ban used as bargaining chip in China trade talks",
        "Beijing wants Washington to lift sanctions before it resumes purchases.",
        "en", false, None, &[],
    );
    negative_h200_van: (
        "China bans imports of Hyundai H200 vans over emissions rules",
        "The H200 van, sold as the Grand Starex elsewhere, failed new tests.",
        "en", false, None, &[],
    );
    negative_h200_camera: (
        "US regulators ban Chinese H200 camera over security concerns",
        "The H200 camera sends footage to servers in China, regulators said.",
        "en", false, None, &[],
    );
    negative_h200_router: (
        "Chinese-made H200 router banned by US regulator",
        "The H200 router's firmware was found to contact servers in Shenzhen.",
        "en", false, None, &[],
    );
    negative_h20_water: (
        "China bans US bottled H20 water brand after contamination probe",
        "Customs found bacteria in the H20 water bottles shipped from California.",
        "en", false, None, &[],
    );
    negative_h2o: (
        "China restricts exports of H2O purification membranes to the US",
        "Beijing said the H₂O filters would need a licence.",
        "en", false, None, &[],
    );
    negative_fr_chips_are_crisps: (
        "Pékin bloque les importations de chips américaines",
        "Les douanes chinoises ont saisi plusieurs tonnes de chips au paprika jugées non conformes.",
        "fr", false, None, &[],
    );
    negative_de_kartoffelchips: (
        "China verbietet Import von Kartoffelchips aus den USA",
        "Der chinesische Zoll beanstandet zu hohe Acrylamidwerte.",
        "de", false, None, &[],
    );
    negative_ja_potato_chips: (
        "中国、日本産ポテトチップスの輸入を禁止",
        "中国税関は、基準値を超える添加物が検出されたと発表した。",
        "ja", false, None, &[],
    );
    negative_chinese_ev_exports: (
        "EU opens anti-subsidy probe as Chinese electric vehicle exports surge",
        "Brussels said BYD and Geely could face extra duties if the investigation finds unfair \
         state support.",
        "en", false, None, &[],
    );
    negative_chinese_solar_exports: (
        "US bans imports of Chinese solar panels over forced labour concerns",
        "Customs will block shipments from three Chinese manufacturers.",
        "en", false, None, &[],
    );
    negative_fab_in_arizona: (
        "TSMC breaks ground on third Arizona fab as US subsidies flow",
        "The Commerce Department approved $6.6 billion in grants for the Phoenix site, which \
         will make 2nm chips from 2028.",
        "en", false, None, &[],
    );
}

// ---------------------------------------------------------------- chip names

#[test]
fn chip_names_h20_spellings() {
    for spelling in ["H-20", "H20s", "h20", "H20"] {
        check_chips(
            &format!("Nvidia resumes {spelling} shipments to China"),
            "",
            "en",
            &["H20"],
        );
    }
    // Full-width forms, as Chinese and Japanese sites write them.
    check_chips("英伟达Ｈ２０芯片对华出口", "", "zh", &["H20"]);
}

#[test]
fn chip_names_not_confused() {
    // H200 and H20E are not H20; H20 and H200 in one article are two chips.
    check_chips("Nvidia H200 sales to China", "", "en", &["H200"]);
    check_chips("Nvidia H20E sales to China", "", "en", &["H20E"]);
    check_chips(
        "US weighs letting Nvidia sell H200 to China",
        "The H200 is far faster than the H20 that China was allowed to buy.",
        "en",
        &["H200", "H20"],
    );
}

#[test]
fn chip_names_rtx_pro_6000d() {
    check(
        "China tells tech firms to stop buying Nvidia's RTX Pro 6000D",
        "The Cyberspace Administration of China ordered ByteDance and Alibaba to cancel orders \
         for the RTX Pro 6000D server chip.",
        "en",
        true,
        Some("restriction"),
        &["RTX Pro 6000D"],
    );
}

#[test]
fn chip_names_ascend_910c() {
    check(
        "US warns that using Huawei's Ascend 910C chips anywhere violates export controls",
        "The Commerce Department guidance says the Ascend 910C was likely made with US \
         technology.",
        "en",
        true,
        Some("restriction"),
        &["Ascend 910C"],
    );
    check_chips("华为昇腾910C芯片量产", "", "zh", &["Ascend 910C"]);
}

#[test]
fn chip_names_hbm() {
    check(
        "US to restrict exports of HBM chips to China",
        "The new rules cover high-bandwidth memory such as HBM3E made by SK Hynix and Samsung.",
        "en",
        true,
        Some("restriction"),
        &["HBM"],
    );
    check_chips("美国限制向中国出口高带宽内存", "", "zh", &["HBM"]);
}

#[test]
fn chip_names_euv_duv_across_languages() {
    let cases: [(&str, &str, &[&str]); 9] = [
        (
            "en",
            "ASML barred from selling extreme ultraviolet machines to China",
            &["EUV"],
        ),
        (
            "en",
            "Dutch curbs now cover immersion DUV and EUV tools",
            &["DUV", "EUV"],
        ),
        (
            "fr",
            "Les machines à ultraviolet extrême d'ASML interdites en Chine",
            &["EUV"],
        ),
        (
            "fr",
            "Les Pays-Bas limitent l'export de l'ultraviolet profond",
            &["DUV"],
        ),
        ("de", "Keine EUV-Belichtungsmaschinen für China", &["EUV"]),
        ("de", "Exportverbot für DUV-Anlagen nach China", &["DUV"]),
        (
            "es",
            "Prohibida la venta de máquinas de ultravioleta extremo a China",
            &["EUV"],
        ),
        (
            "zh",
            "荷兰限制阿斯麦深紫外光刻机对华出口，极紫外设备早已禁售",
            &["DUV", "EUV"],
        ),
        ("ja", "中国、極端紫外線（EUV）露光装置の国産化を急ぐ", &["EUV"]),
    ];
    for (lang, title, chips) in cases {
        check_chips(title, "", lang, chips);
    }
}

// ---------------------------------------------------------------- CJK and mixed text

cases! {
    cjk_zh_without_spaces: (
        "英伟达H20芯片对华出口许可获批",
        "",
        "zh", true, Some("approval"), &["H20"],
    );
    cjk_ja_without_spaces: (
        "エヌビディアのH20輸出規制",
        "米政府は中国向けH20の輸出に許可が必要になると同社に通知した。",
        "ja", true, Some("restriction"), &["H20"],
    );
    cjk_traditional_chinese: (
        "美國商務部將中國晶片企業列入實體清單",
        "新規限制美國企業向其出口先進半導體設備。",
        "zh", true, Some("restriction"), &[],
    );
    mixed_english_title_chinese_summary: (
        "Nvidia H20 export licences approved",
        "美国商务部已向英伟达发放H20芯片对华出口许可，公司将恢复对中国客户的销售。",
        "zh", true, Some("approval"), &["H20"],
    );
    mixed_language_undeclared: (
        "Nvidia H20 export licences approved",
        "美国商务部已向英伟达发放H20芯片对华出口许可，公司将恢复对中国客户的销售。",
        "", true, Some("approval"), &["H20"],
    );
    mixed_english_title_japanese_summary_declared_en: (
        "Japan tightens chip equipment export rules for China",
        "経済産業省は、先端半導体製造装置の対中輸出に許可を義務付ける新規制を発表した。",
        "en", true, Some("restriction"), &[],
    );
}

#[test]
fn overlapping_cues_of_one_event_count_once() {
    // "export curbs on" holds two restriction cues ("export curbs", "curbs
    // on") that share a word: one phrase, so one cue's worth.
    let d = run(
        "Regulators in Beijing open an investigation into a US chipmaker",
        "Analysts link the investigation to US export curbs on HBM sold to China.",
        Some("en"),
    );
    let restriction = d
        .event_scores()
        .find(|(e, _)| *e == EventType::Restriction)
        .map(|(_, s)| s);
    assert_eq!(restriction, Some(1.0), "{}", explain(&d));
}
#[test]
fn a_cue_inside_a_longer_cue_gives_way() {
    // "antitrust probe" (retaliation) holds "probe" (enforcement): one
    // phrase, read the longer way. A bare "probe" elsewhere still counts.
    let cue_hits = |d: &Decision<'_>, event: EventType| {
        d.hits()
            .iter()
            .filter(|h| matches!(h.target, Target::Cue(e) | Target::StrongCue(e) if e == event))
            .count()
    };
    let d = run("Beijing opens antitrust probe into Nvidia", "", Some("en"));
    assert_eq!(cue_hits(&d, EventType::Enforcement), 0, "{}", explain(&d));
    assert!(cue_hits(&d, EventType::Retaliation) > 0, "{}", explain(&d));
    let d = run(
        "Chip tensions rise",
        "Officials probe the smuggling of H20 chips. The ministry did not comment. \
         Separately, Beijing opened an antitrust probe into Nvidia.",
        Some("en"),
    );
    let sentences = |text: &str, cue: bool| -> Vec<u32> {
        let is_cue = |h: &Hit| matches!(h.target, Target::Cue(_) | Target::StrongCue(_));
        d.hits()
            .iter()
            .filter(|h| d.matched(h) == text && is_cue(h) == cue)
            .map(|h| h.sentence)
            .collect()
    };
    assert_eq!(sentences("probe", true), [0], "{}", explain(&d));
    assert_eq!(sentences("probe", false), [0, 2], "{}", explain(&d));
    assert_eq!(sentences("antitrust probe", true), [2], "{}", explain(&d));
}

#[test]
fn a_wild_term_repeated_in_one_long_word_spans_the_word() {
    // Hostile input: thousands of matches of a term wild on both sides
    // ("*halbleiter*") inside one word. Each widens to the whole word; the
    // scan finds the word once per lane, not once per match (this took
    // seconds per article when every match walked the word again).
    let word = "halbleiter".repeat(20_000);
    let d = run("Chipfirmen", &word, Some("de"));
    let spans: std::collections::BTreeSet<(u32, u32)> = d
        .hits()
        .iter()
        .filter(|h| h.field == Field::Summary)
        .map(|h| (h.start, h.end))
        .collect();
    assert_eq!(spans, [(0, word.len() as u32)].into(), "{:?}", &d.hits()[..3]);
}

// ---------------------------------------------------------------- follow-ups

#[test]
fn a_reaction_is_a_follow_up() {
    // The restriction cue in the headline comes after "denounces": the
    // article reports a reaction, not new curbs.
    let d = run(
        "Beijing denounces new US export controls on AI chips",
        "China's commerce ministry said the rules that took effect last week hurt global supply chains.",
        Some("en"),
    );
    assert!(d.relevant, "{}", explain(&d));
    assert_eq!(d.follow_up, Reference::FollowUp, "{}", explain(&d));
}

#[test]
fn a_new_development_that_refers_back_is_not_a_follow_up() {
    let d = run(
        "China approves first batch of Nvidia H200 imports for Alibaba",
        "Beijing cleared several hundred thousand GPUs, weeks after last week's go-ahead from Washington.",
        Some("en"),
    );
    assert!(d.relevant, "{}", explain(&d));
    assert_eq!(d.event, Some(EventType::Approval), "{}", explain(&d));
    assert_eq!(d.follow_up, Reference::RefersBack, "{}", explain(&d));
}

#[test]
fn a_first_report_points_nowhere() {
    let d = run(
        "US restricts HBM sales to China",
        "The Commerce Department added 140 entities to its entity list.",
        Some("en"),
    );
    assert_eq!(d.follow_up, Reference::None, "{}", explain(&d));
    // "critique" is also the adjective "critical": not a reaction.
    let d = run(
        "La Chine restreint l'exportation du gallium, un métal critique",
        "Pékin soumet le gallium et le germanium à licence.",
        Some("fr"),
    );
    assert_eq!(d.follow_up, Reference::None, "{}", explain(&d));
    // A phrase that is both a restriction cue and a back-reference, in a
    // headline, announces.
    let d = run(
        "Semi-conducteurs : nouvelles restrictions américaines contre la Chine",
        "Washington soumet à licence les puces d'IA et les équipements, entrées en vigueur le mois prochain.",
        Some("fr"),
    );
    assert_eq!(d.follow_up, Reference::RefersBack, "{}", explain(&d));
    // Follow-up phrases in other languages count too.
    let d = run(
        "Nvidia prépare trois puces pour la Chine",
        "Privé de l'A800 par les nouvelles règles américaines, Nvidia adapte son offre.",
        Some("fr"),
    );
    assert_ne!(d.follow_up, Reference::None, "{}", explain(&d));
}

/// A negative context is recorded once however often it occurs, and
/// lowers the score by its penalty once.
#[test]
fn a_negative_context_counts_once() {
    let summary = "Beijing curbs US exports of chips to China.";
    let plain = run("US chips export ban on China", summary, Some("en"));
    let d = run(
        "US chips export ban on China",
        &format!("{summary} A snack maker said potato chips and more potato chips are fine."),
        Some("en"),
    );
    assert_eq!(d.negatives(), [("snack food", 3.0)], "{}", explain(&d));
    assert!(
        (plain.score - 3.0 - d.score).abs() < 1e-4,
        "{} vs {}: {}",
        plain.score,
        d.score,
        explain(&d)
    );
}

/// Entity names come once each, in order of first mention, and the
/// development signature holds each key once: the BIS and the Commerce
/// Department are one group.
#[test]
fn entities_and_keys_once_each_in_order_of_first_mention() {
    let d = run(
        "Nvidia loses H20 sales to China as BIS tightens rules",
        "The Commerce Department said the BIS rule covers Nvidia and AMD chips; \
         the department of commerce and Nvidia declined to comment.",
        Some("en"),
    );
    assert_eq!(d.companies(), ["Nvidia", "AMD"], "{}", explain(&d));
    assert_eq!(d.agencies(), ["Commerce Department", "BIS"], "{}", explain(&d));
    let keys = d.keys();
    let at = |k: &str| keys.iter().position(|x| *x == k);
    assert_eq!(
        keys.iter()
            .filter(|k| **k == "agency:US Commerce Department")
            .count(),
        1,
        "{keys:?}"
    );
    assert!(
        at("company:Nvidia") < at("agency:US Commerce Department"),
        "{keys:?}"
    );
    assert!(
        at("agency:US Commerce Department") < at("company:AMD"),
        "{keys:?}"
    );
    let mut unique = keys.to_vec();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), keys.len(), "{keys:?}");
}

// ---------------------------------------------------------------- determinism

#[test]
fn same_input_same_decision() {
    let inputs = [
        (
            "US grants Nvidia licences to ship H20 chips to China",
            "Sales resume.",
            Some("en"),
        ),
        ("英伟达H20芯片对华出口许可获批", "", None),
        ("Chinese snack maker expands potato chip exports", "", Some("en")),
        ("", "", None),
    ];
    let other = Profile::parse(super::profile::BUILTIN_PROFILE, "again").unwrap();
    for (title, summary, lang) in inputs {
        let input = Input { title, summary, lang };
        let first = classify(profile(), &input);
        assert_eq!(first, classify(profile(), &input), "{title}");
        // A second compile of the same text decides the same way.
        assert_eq!(first, classify(&other, &input), "{title}");
    }
}

// ---------------------------------------------------------------- the shipped profile

#[test]
fn shipped_profile_loads() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/topics/chip-exports.toml");
    let loaded = Profile::load(&path).unwrap();
    let builtin = profile();
    assert_eq!(
        loaded.fingerprint, builtin.fingerprint,
        "the built-in profile is the shipped file"
    );
    assert_eq!(loaded.name, "chip-exports");
    assert!(loaded.threshold > 0.0);
    for concept in ["subject", "china", "foreign", "control"] {
        assert!(
            loaded.concepts.iter().any(|c| c == concept),
            "concept {concept} in {:?}",
            loaded.concepts
        );
    }
    assert_eq!(loaded.default_event, EventType::Analysis);
    for (kind, name) in [
        (EntityKind::Chip, "H20"),
        (EntityKind::Chip, "RTX Pro 6000D"),
        (EntityKind::Chip, "Ascend 910C"),
        (EntityKind::Chip, "HBM"),
        (EntityKind::Chip, "EUV"),
        (EntityKind::Chip, "DUV"),
        (EntityKind::Company, "Nvidia"),
        (EntityKind::Company, "ASML"),
        (EntityKind::Agency, "BIS"),
        (EntityKind::Agency, "MOFCOM"),
        (EntityKind::Country, "China"),
    ] {
        assert!(
            loaded.entities.iter().any(|e| e.kind == kind && e.name == name),
            "{kind:?} {name}"
        );
    }
    // Every event type has cues, so no event is reachable only by default.
    let cued: Vec<EventType> = loaded
        .terms
        .iter()
        .flat_map(|t| &t.targets)
        .filter_map(|t| match t {
            Target::Cue(ev) => Some(*ev),
            _ => None,
        })
        .collect();
    for ev in EventType::ALL {
        assert!(cued.contains(&ev), "cues for {ev}");
    }
}

// ---------------------------------------------------------------- profile errors

/// A small valid profile; the error tests break one thing in it.
const MINI: &str = r#"[profile]
name = "mini"
threshold = 3.0

[concepts.subject]
en = ["chip*", "semiconductor*"]

[concepts.china]
en = ["china", "beijing"]

[concepts.control]
en = ["export control*", "ban", "bans"]

[[entities]]
kind = "chip"
name = "H20"
aliases = ["h20", "h-20"]
concepts = ["china", "subject"]

[[negatives]]
name = "snack food"
penalty = 3.0
terms = ["potato chip*"]

[[rules]]
name = "chip control involving China"
all = ["china", "subject", "control"]
within = "sentence"
score = 3.0

[events]
default = "analysis"

[events.approval]
en = ["approves", "lifts ban"]

[events.restriction]
en = ["new rules"]
"#;

const MINI_SOURCE: &str = "topics/mini.toml";

/// `MINI` with `from` replaced by `to` (which must occur once).
fn mini_with(from: &str, to: &str) -> String {
    assert_eq!(MINI.matches(from).count(), 1, "{from:?} occurs once in MINI");
    MINI.replace(from, to)
}

/// The 1-based line of the first line of `text` containing `needle`.
fn line_in(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).unwrap() + 1
}

/// `Profile::parse` refuses `text` with a message that names the source,
/// a line within `lines` (the offending entry: from its table header or
/// name to the offending key) and every one of `names`.
#[track_caller]
fn check_refused(text: &str, lines: std::ops::RangeInclusive<usize>, names: &[&str]) {
    let err = match Profile::parse(text, MINI_SOURCE) {
        Ok(_) => panic!("profile accepted:\n{text}"),
        Err(e) => e,
    };
    let message = err.to_string();
    let line = message
        .strip_prefix(&format!("invalid topic profile {MINI_SOURCE}:"))
        .and_then(|rest| rest.split(':').next())
        .and_then(|n| n.parse::<usize>().ok());
    assert!(
        line.is_some_and(|l| lines.contains(&l)),
        "expected {MINI_SOURCE}:LINE: with LINE in {lines:?} in {message:?}"
    );
    for name in names {
        assert!(message.contains(name), "expected {name:?} in {message:?}");
    }
}

/// The line of `needle` alone, as a range.
fn at(text: &str, needle: &str) -> std::ops::RangeInclusive<usize> {
    let l = line_in(text, needle);
    l..=l
}

/// From the line of `from` to the line of `to`.
fn between(text: &str, from: &str, to: &str) -> std::ops::RangeInclusive<usize> {
    line_in(text, from)..=line_in(text, to)
}

#[test]
fn mini_profile_is_valid() {
    let p = Profile::parse(MINI, MINI_SOURCE).unwrap();
    let d = classify(
        &p,
        &Input {
            title: "Beijing bans H20 chips",
            summary: "",
            lang: Some("en"),
        },
    );
    assert!(d.relevant, "{d:?}");
    assert_eq!(d.chips(), ["H20"]);
}

#[test]
fn profile_error_bad_toml() {
    let text = mini_with("threshold = 3.0", "threshold = ");
    check_refused(&text, at(&text, "threshold ="), &[]);
    let text = mini_with("[concepts.china]", "[concepts.china");
    check_refused(&text, at(&text, "[concepts.china"), &[]);
}

#[test]
fn profile_error_unknown_event() {
    let text = mini_with("[events.approval]", "[events.aproval]");
    check_refused(&text, at(&text, "[events.aproval]"), &["aproval"]);
    let text = mini_with("default = \"analysis\"", "default = \"analyis\"");
    check_refused(&text, at(&text, "default ="), &["analyis"]);
}

#[test]
fn profile_error_empty_term_list() {
    let text = mini_with(r#"en = ["china", "beijing"]"#, "en = []");
    check_refused(&text, between(&text, "[concepts.china]", "en = []"), &["china"]);
    let text = mini_with(r#"terms = ["potato chip*"]"#, "terms = []");
    check_refused(
        &text,
        between(&text, "[[negatives]]", "terms = []"),
        &["snack food"],
    );
    let text = mini_with(r#"aliases = ["h20", "h-20"]"#, "aliases = []");
    check_refused(&text, between(&text, "[[entities]]", "aliases = []"), &["H20"]);
}

#[test]
fn profile_error_empty_term() {
    let text = mini_with(r#"en = ["china", "beijing"]"#, r#"en = ["china", ""]"#);
    check_refused(&text, at(&text, r#"en = ["china", ""]"#), &["concepts.china.en"]);
}

#[test]
fn profile_error_control_character_in_term() {
    // The matcher separates texts with NULs: a term may not hold one.
    let text = mini_with(
        r#"en = ["china", "beijing"]"#,
        r#"en = ["china", "bei\u0000jing"]"#,
    );
    check_refused(
        &text,
        at(&text, r#"en = ["china", "bei\u0000jing"]"#),
        &["concepts.china.en", "control character"],
    );
}

#[test]
fn profile_error_empty_cue_list() {
    // An event section with no cues is a mistake, not a way to switch an
    // event off.
    let text = mini_with(r#"en = ["new rules"]"#, "en = []");
    check_refused(
        &text,
        between(&text, "[events.restriction]", "en = []"),
        &["restriction"],
    );
}

#[test]
fn profile_error_unknown_concept_in_rule() {
    let text = mini_with(
        r#"all = ["china", "subject", "control"]"#,
        r#"all = ["china", "subjekt", "control"]"#,
    );
    check_refused(
        &text,
        between(&text, "[[rules]]", "subjekt"),
        &["subjekt", "chip control involving China"],
    );
}

#[test]
fn profile_error_unknown_concept_in_entity() {
    let text = mini_with(
        r#"concepts = ["china", "subject"]"#,
        r#"concepts = ["chnia", "subject"]"#,
    );
    check_refused(&text, between(&text, "[[entities]]", "chnia"), &["chnia", "H20"]);
}

#[test]
fn profile_error_unknown_key() {
    let text = mini_with("threshold = 3.0", "treshold = 3.0");
    check_refused(&text, at(&text, "treshold"), &["treshold"]);
    let text = mini_with("score = 3.0", "scor = 3.0");
    check_refused(&text, at(&text, "scor ="), &["scor"]);
    let text = mini_with("penalty = 3.0", "penalty = 3.0\nweight = 1.0");
    check_refused(&text, at(&text, "weight"), &["weight"]);
}

#[test]
fn profile_error_unknown_language_key() {
    // Language lists are keyed by ISO 639-1 code; a misspelt key would
    // silently never match.
    let text = mini_with(
        r#"en = ["china", "beijing"]"#,
        r#"english = ["china", "beijing"]"#,
    );
    check_refused(&text, between(&text, "[concepts.china]", "english"), &["english"]);
}

#[test]
fn profile_error_from_load_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.toml");
    std::fs::write(&path, mini_with("[events.approval]", "[events.aproval]")).unwrap();
    let message = Profile::load(&path).unwrap_err().to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("aproval"), "{message}");
    let missing = dir.path().join("missing.toml");
    let message = Profile::load(&missing).unwrap_err().to_string();
    assert!(message.contains(&missing.display().to_string()), "{message}");
}

// ---------------------------------------------------------------- properties

/// Text built from pieces that stress the engine: profile terms (so that
/// matching, windows and negatives run), CJK, combining marks, right-to-left
/// text and controls, emoji, sentence ends and arbitrary characters.
fn nasty_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("chip".to_owned()),
        Just("chips ".to_owned()),
        Just("China ".to_owned()),
        Just("export ban ".to_owned()),
        Just("antitrust probe ".to_owned()),
        Just("probe ".to_owned()),
        Just("H20".to_owned()),
        Just("H-20 ".to_owned()),
        Just("potato chips".to_owned()),
        Just("芯片".to_owned()),
        Just("对华出口管制".to_owned()),
        Just("エヌビディア".to_owned()),
        Just("ｴﾇﾋﾞﾃﾞｨｱ".to_owned()),
        Just("Pékin".to_owned()),
        Just("U.S. ".to_owned()),
        Just(". ".to_owned()),
        Just("。".to_owned()),
        Just("? ".to_owned()),
        Just("\u{202E}\u{200F}".to_owned()),
        Just("שבבים ".to_owned()),
        Just("رقائق ".to_owned()),
        Just("\u{FEFF}\u{200D}".to_owned()),
        Just("🇨🇳👨‍👩‍👧".to_owned()),
        "[\\u{0300}-\\u{036F}\\u{3099}\\u{309A}]{1,3}",
        "[\\u{0000}-\\u{001F}\\u{007F}-\\u{009F}]{1,3}",
        "[\\u{4E00}-\\u{9FFF}\\u{3040}-\\u{30FF}\\u{AC00}-\\u{D7AF}]{1,4}",
        "[\\u{FF01}-\\u{FF5E}\\u{FF66}-\\u{FF9F}]{1,4}",
        any::<char>().prop_map(String::from),
        "[a-zA-Z0-9 .\\-]{1,8}",
    ];
    prop::collection::vec(piece, 0..40).prop_map(|v| v.concat())
}

fn any_lang() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some("en".to_owned())),
        Just(Some("zh".to_owned())),
        Just(Some("ja".to_owned())),
        Just(Some("pl".to_owned())),
        any::<String>().prop_map(Some),
        nasty_text().prop_map(Some),
    ]
}

proptest! {
    #[test]
    fn classify_never_panics_and_is_deterministic(
        title in nasty_text(),
        summary in nasty_text(),
        lang in any_lang(),
    ) {
        let input = Input { title: &title, summary: &summary, lang: lang.as_deref() };
        let first = classify(profile(), &input);
        prop_assert_eq!(&first, &classify(profile(), &input));
        prop_assert!(first.score.is_finite());
        prop_assert_eq!(first.relevant, first.event.is_some());
        prop_assert!(first.hits().iter().all(|h| h.field == Field::Summary || h.sentence == 0));
        // No cue counts inside a longer cue.
        let cues: Vec<&Hit> = first
            .hits()
            .iter()
            .filter(|h| matches!(h.target, Target::Cue(_) | Target::StrongCue(_)))
            .collect();
        for a in &cues {
            prop_assert!(!cues.iter().any(|b| b.field == a.field
                && b.start <= a.start
                && a.end <= b.end
                && b.end - b.start > a.end - a.start));
        }
        let _ = first.evidence_json(profile());
    }

    #[test]
    fn classify_never_panics_on_any_string(title in any::<String>(), summary in any::<String>()) {
        let input = Input { title: &title, summary: &summary, lang: None };
        prop_assert_eq!(classify(profile(), &input), classify(profile(), &input));
    }

    #[test]
    fn normalise_never_panics_and_sentences_stay_in_range(s in nasty_text()) {
        let n = normalise(&s);
        let starts = &n.sentence_starts;
        prop_assert_eq!(starts.first(), Some(&0));
        prop_assert!(starts.windows(2).all(|w| w[0] < w[1]), "ascending: {:?}", starts);
        prop_assert!(starts.iter().all(|&p| p <= n.text.len() && n.text.is_char_boundary(p)));
        for pos in 0..=n.text.len() + 1 {
            let i = n.sentence_of(pos);
            prop_assert!(i < starts.len());
            prop_assert!(starts[i] <= pos);
        }
        let _ = normalise_term(&s);
    }

    /// The word helpers read ASCII neighbours byte by byte: they must say
    /// what the character-by-character definition says, in any script.
    #[test]
    fn word_bounds_agree_with_the_character_rule(s in nasty_text()) {
        let t = normalise(&s).text;
        for at in (0..=t.len()).filter(|&i| t.is_char_boundary(i)) {
            prop_assert_eq!(normalize::word_char_before(&t, at), t[..at].chars().next_back().is_some_and(is_word_char));
            prop_assert_eq!(normalize::word_char_at(&t, at), t[at..].chars().next().is_some_and(is_word_char));
            let end = at + t[at..].find(|c: char| !is_word_char(c)).unwrap_or(t.len() - at);
            prop_assert_eq!(normalize::word_end(&t, at), end, "{:?} at {}", t, at);
            let start = t[..at]
                .rfind(|c: char| !is_word_char(c))
                .map_or(0, |i| i + t[i..].chars().next().map_or(1, char::len_utf8));
            prop_assert_eq!(normalize::word_start(&t, at), start, "{:?} at {}", t, at);
        }
    }
}
#[test]
fn a_batch_decides_as_one_at_a_time() {
    // Long enough together that the matcher scans them in several
    // interleaved streams, with matches at the seams.
    let long = "Nvidia H20 export controls. ".repeat(40);
    let articles: Vec<(&str, &str, Option<&str>)> = vec![
        (
            "US tightens export controls on Nvidia H20 chips to China",
            "The Commerce Department said on Monday that licences are needed.",
            Some("en"),
        ),
        (
            "Potato chips exports to China rise",
            "Snack makers shipped more crisps.",
            Some("en"),
        ),
        ("", "", None),
        (
            "中国批准进口英伟达H200芯片",
            "商务部表示，首批进口已获批准。",
            Some("zh"),
        ),
        (
            "エヌビディアのH20、中国向け輸出を規制",
            "米商務省が発表した。",
            None,
        ),
        (
            "La Chine approuve l'importation de puces Nvidia H200",
            "Pékin a donné son feu vert à Alibaba.",
            Some("fr"),
        ),
        (&long, &long, Some("en")),
        (
            "ASML DUV lithography licences revoked",
            "The Dutch government withdrew export licences for DUV tools to China.",
            Some("en"),
        ),
        (
            "Smuggling ring charged over GPUs bound for China",
            "Prosecutors say the H100 chips were routed via Singapore.",
            None,
        ),
        ("Blue-chip stocks rally", "", Some("en")),
    ];
    let inputs: Vec<Input<'_>> = articles
        .iter()
        .map(|&(title, summary, lang)| Input { title, summary, lang })
        .collect();
    let one_by_one: Vec<Decision<'_>> = inputs.iter().map(|i| classify(profile(), i)).collect();
    assert_eq!(classify_batch(profile(), &inputs), one_by_one);
    // Any split into batches, too.
    for size in [1, 2, 3, 7] {
        let batched: Vec<Decision<'_>> = inputs
            .chunks(size)
            .flat_map(|c| classify_batch(profile(), c))
            .collect();
        assert_eq!(batched, one_by_one, "batches of {size}");
    }
    assert!(one_by_one[0].relevant && !one_by_one[1].relevant);
    assert!(one_by_one[6].hits().len() > 100, "{}", one_by_one[6].hits().len());
}

#[test]
fn undeclared_language_is_detected_for_relevant_articles() {
    let cases = [
        (
            "US tightens export controls on Nvidia H20 chips to China",
            "The Commerce Department said on Monday that companies will need a licence to ship the chips.",
            "en",
        ),
        (
            "La Chine approuve l'importation de puces Nvidia H200",
            "Pékin a donné son feu vert à Alibaba et à d'autres groupes pour acheter ces processeurs.",
            "fr",
        ),
        (
            "USA verschärfen Exportkontrollen für Nvidia-Chips nach China",
            "Das Handelsministerium in Washington verlangt künftig eine Lizenz für die Ausfuhr.",
            "de",
        ),
        (
            "Estados Unidos endurece los controles de exportación de chips de Nvidia a China",
            "El Departamento de Comercio exigirá una licencia para enviar los procesadores.",
            "es",
        ),
        (
            "中国批准进口英伟达H200芯片",
            "商务部表示，首批进口已获批准，阿里巴巴等公司将获得数十万颗芯片。",
            "zh",
        ),
        (
            "米政府、エヌビディアのH20の中国向け輸出を規制",
            "米商務省は輸出にライセンスが必要になると発表した。",
            "ja",
        ),
        (
            "USA zaostrzają kontrolę eksportu chipów Nvidia do Chin",
            "Departament Handlu poinformował, że firmy będą potrzebować licencji na eksport procesorów.",
            "pl",
        ),
    ];
    for (title, summary, want) in cases {
        let d = run(title, summary, None);
        assert!(d.relevant, "{title}: {}", explain(&d));
        assert_eq!(d.lang.as_deref(), Some(want), "{title}");
    }
}

// A revoked licence or approval is a restriction, in every language.
cases! {
    en_revocation_is_restriction: (
        "Washington revokes licences for Huawei's chip suppliers",
        "The Commerce Department revoked export licences that let two American firms sell \
         processors to Huawei in China.",
        "en", true, Some("restriction"), &[],
    );
    fr_revocation_is_restriction: (
        "Washington révoque les licences des fournisseurs de puces de Huawei",
        "Le département du Commerce a retiré les autorisations d'exportation de processeurs vers la Chine.",
        "fr", true, Some("restriction"), &[],
    );
    de_revocation_is_restriction: (
        "Washington widerruft Exportlizenzen für Chip-Lieferanten von Huawei",
        "Das US-Handelsministerium hat Genehmigungen für Prozessoren nach China widerrufen.",
        "de", true, Some("restriction"), &[],
    );
    es_revocation_is_restriction: (
        "Washington revoca las licencias de exportación de chips a Huawei",
        "El Departamento de Comercio revocó los permisos para vender procesadores a China.",
        "es", true, Some("restriction"), &[],
    );
    zh_revocation_is_restriction: (
        "美国商务部吊销向华为出口芯片的许可证",
        "美国撤销许可，两家美国公司不能再向中国华为出售处理器。",
        "zh", true, Some("restriction"), &[],
    );
    ja_revocation_is_restriction: (
        "米商務省、ファーウェイ向け半導体の輸出許可を取り消し",
        "米政府は中国のファーウェイに対する半導体輸出の許可を取り消した。",
        "ja", true, Some("restriction"), &[],
    );
}

/// The articles' scratch buffers stay with the thread from batch to batch:
/// an article with tens of thousands of hits lets them go, and the next
/// article is decided as on a fresh thread.
#[test]
fn scratch_buffers_go_after_a_huge_article_and_leave_nothing_behind() {
    let small = || {
        run(
            "China approves Nvidia H200 imports",
            "Beijing let Alibaba buy H200 chips.",
            Some("en"),
        )
    };
    let before = small();
    // More hits than the limit holds.
    let huge = "Nvidia H200 China. ".repeat(matcher::KEEP_BYTES / 8);
    let d = run("Chip rules", &huge, Some("en"));
    assert!(d.hits().len() > matcher::KEEP_BYTES / 4, "{}", d.hits().len());
    let held = SCRATCH.with_borrow(Scratch::bytes);
    assert!(held <= matcher::KEEP_BYTES, "a huge article's buffers go: {held}");
    assert_eq!(small(), before);
    // Under the limit they stay.
    run("Chip rules", &huge[..huge.len() / 100], Some("en"));
    assert!(SCRATCH.with_borrow(Scratch::bytes) > 0);
    assert_eq!(small(), before);
}

/// A declared language is kept as declared: one of the detector's codes
/// without a copy, any other as given.
#[test]
fn declared_languages_are_kept() {
    for code in ["en", "ja", "pl", "hi"] {
        assert!(matches!(lang_code(code), Cow::Borrowed(c) if c == code), "{code}");
    }
    for other in ["xx", "pt-BR", "e", "", "jap"] {
        assert!(matches!(lang_code(other), Cow::Owned(c) if c == other), "{other}");
    }
    assert_eq!(
        run("Nvidia H20", "", Some("pt-BR")).lang.as_deref(),
        Some("pt-BR")
    );
}

/// The event is the type with the best cue score; on a tie, the more
/// specific type (approval before restriction), and the event scores list
/// the types with a cue in that order.
#[test]
fn a_tie_between_cue_scores_goes_to_the_more_specific_event() {
    let p = Profile::parse(MINI, MINI_SOURCE).unwrap();
    let classified = |summary: &str| {
        classify(
            &p,
            &Input {
                title: "China chip export controls",
                summary,
                lang: Some("en"),
            },
        )
    };
    let tie = classified("Beijing approves. Washington has new rules.");
    assert!(tie.relevant);
    assert_eq!(tie.event, Some(EventType::Approval));
    let scores: Vec<(EventType, f32)> = tie.event_scores().collect();
    assert_eq!(
        scores,
        [(EventType::Approval, 1.0), (EventType::Restriction, 1.0)]
    );
    let more = classified("Beijing approves. Washington has new rules, then more new rules.");
    assert_eq!(more.event, Some(EventType::Restriction));
    assert_eq!(
        classified("Beijing and Washington talk.").event,
        Some(EventType::Analysis)
    );
}

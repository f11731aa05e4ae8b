//! The organisations of the demo: two ITUC regional organisations that relay, national centres
//! reporting directly, through a relay or hosted on one, and a Global Union Federation.

/// How an organisation reaches the hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// Its own node, enrolled with the hub.
    Direct,
    /// A regional organisation whose node relays for others (`init --relay`).
    Relay,
    /// Its own node, enrolled through this relay (`org add --via RELAY`).
    Via(&'static str),
    /// No node of its own: the relay holds its key (`org add --via RELAY --hosted`).
    Hosted(&'static str),
}

/// One ILO convention's status in the country of a national centre, in 2024 and in 2025.
pub type ConventionStatuses = &'static [(&'static str, &'static str, &'static str)];

/// One organisation of the demo.
#[derive(Debug)]
pub struct Org {
    pub id: &'static str,
    pub name: &'static str,
    /// `national_centre`, `regional_organisation` or `guf`.
    pub kind: &'static str,
    /// ISO 3166-1 alpha-2; none for a GUF.
    pub country: Option<&'static str>,
    pub region: &'static str,
    pub link: Link,
    /// Where its activities take place, for the notes of its records.
    pub city: &'static str,
    /// The ISO 4217 currency of its budget.
    pub currency: &'static str,
    /// Its yearly budget against forced labour, in units of `currency`.
    pub budget: u64,
    /// How big its programme is: scales its counts.
    pub size: u64,
    /// The sectors it works on most (for a GUF: the sectors it covers).
    pub sectors: &'static [&'static str],
    /// For national centres: the conventions' statuses in its country.
    pub conventions: ConventionStatuses,
}

impl Org {
    pub fn is_relay(&self) -> bool {
        self.link == Link::Relay
    }

    /// The relay it reports through, if any.
    pub fn relay(&self) -> Option<&'static str> {
        match self.link {
            Link::Via(relay) | Link::Hosted(relay) => Some(relay),
            Link::Direct | Link::Relay => None,
        }
    }

    /// Whether a relay hosts it (it runs no node of its own).
    pub fn is_hosted(&self) -> bool {
        matches!(self.link, Link::Hosted(_))
    }

    /// Whose node keeps its records: its own, or the relay that hosts it.
    pub fn node(&self) -> &'static str {
        match self.link {
            Link::Hosted(relay) => relay,
            _ => self.id,
        }
    }
}

/// The organisation `id`, which the demo knows.
pub fn org(id: &str) -> &'static Org {
    ORGS.iter()
        .find(|o| o.id == id)
        .unwrap_or_else(|| unreachable!("{id} is not an organisation of the demo"))
}

/// The organisations of the demo; the relays come first, since the others enroll through them.
pub const ORGS: &[Org] = &[
    Org {
        id: "ituc-africa",
        name: "ITUC Africa",
        kind: "regional_organisation",
        country: Some("TG"),
        region: "africa",
        link: Link::Relay,
        city: "Lomé",
        currency: "XOF",
        budget: 18_500_000,
        size: 2,
        sectors: &["agriculture", "domestic_work", "mining"],
        conventions: &[],
    },
    Org {
        id: "ituc-ap",
        name: "ITUC Asia-Pacific",
        kind: "regional_organisation",
        country: Some("SG"),
        region: "asia_pacific",
        link: Link::Relay,
        city: "Singapore",
        currency: "SGD",
        budget: 42_000,
        size: 2,
        sectors: &["fishing", "construction", "domestic_work"],
        conventions: &[],
    },
    Org {
        id: "cotu-kenya",
        name: "Central Organization of Trade Unions (Kenya)",
        kind: "national_centre",
        country: Some("KE"),
        region: "africa",
        link: Link::Via("ituc-africa"),
        city: "Nairobi",
        currency: "KES",
        budget: 2_400_000,
        size: 2,
        sectors: &["agriculture", "domestic_work", "transport"],
        conventions: &[
            ("c29", "ratified", "ratified"),
            ("c105", "ratified", "ratified"),
            ("c81", "ratified_with_gaps", "ratified_with_gaps"),
            ("c129", "ratified", "ratified"),
            ("c181", "not_ratified", "campaign_under_way"),
            ("c97", "ratified", "ratified"),
            ("c143", "not_ratified", "not_ratified"),
        ],
    },
    Org {
        id: "tuc-ghana",
        name: "Ghana Trades Union Congress",
        kind: "national_centre",
        country: Some("GH"),
        region: "africa",
        link: Link::Hosted("ituc-africa"),
        city: "Accra",
        currency: "GHS",
        budget: 120_000,
        size: 1,
        sectors: &["mining", "agriculture", "fishing"],
        conventions: &[
            ("c29", "ratified_with_gaps", "ratified_with_gaps"),
            ("c105", "ratified", "ratified"),
            ("c81", "ratified", "ratified"),
            ("c129", "campaign_under_way", "campaign_under_way"),
            ("c181", "not_ratified", "not_ratified"),
            ("c97", "not_ratified", "campaign_under_way"),
            ("c143", "not_ratified", "not_ratified"),
        ],
    },
    Org {
        id: "cut-brazil",
        name: "Central Única dos Trabalhadores",
        kind: "national_centre",
        country: Some("BR"),
        region: "americas",
        link: Link::Direct,
        city: "São Paulo",
        currency: "BRL",
        budget: 310_000,
        size: 4,
        sectors: &["agriculture", "construction", "textiles"],
        conventions: &[
            ("c29", "ratified", "ratified"),
            ("c105", "ratified", "ratified"),
            ("c81", "ratified_with_gaps", "ratified_with_gaps"),
            ("c129", "not_ratified", "not_ratified"),
            ("c181", "not_ratified", "not_ratified"),
            ("c97", "ratified", "ratified"),
            ("c143", "campaign_under_way", "campaign_under_way"),
        ],
    },
    Org {
        id: "rengo-japan",
        name: "Japanese Trade Union Confederation (RENGO)",
        kind: "national_centre",
        country: Some("JP"),
        region: "asia_pacific",
        link: Link::Via("ituc-ap"),
        city: "Tokyo",
        currency: "JPY",
        budget: 9_800_000,
        size: 3,
        sectors: &["manufacturing", "construction", "agriculture"],
        conventions: &[
            ("c29", "ratified_with_gaps", "ratified_with_gaps"),
            ("c105", "ratified", "ratified"),
            ("c81", "ratified", "ratified"),
            ("c129", "not_ratified", "not_ratified"),
            ("c181", "ratified", "ratified"),
            ("c97", "not_ratified", "not_ratified"),
            ("c143", "not_ratified", "campaign_under_way"),
        ],
    },
    Org {
        id: "tucp-philippines",
        name: "Trade Union Congress of the Philippines",
        kind: "national_centre",
        country: Some("PH"),
        region: "asia_pacific",
        link: Link::Via("ituc-ap"),
        city: "Quezon City",
        currency: "PHP",
        budget: 1_150_000,
        size: 2,
        sectors: &["fishing", "domestic_work", "manufacturing"],
        conventions: &[
            ("c29", "ratified", "ratified"),
            ("c105", "ratified", "ratified"),
            ("c81", "ratified_with_gaps", "ratified_with_gaps"),
            ("c129", "not_ratified", "not_ratified"),
            ("c181", "campaign_under_way", "campaign_under_way"),
            ("c97", "ratified", "ratified"),
            ("c143", "ratified", "ratified"),
        ],
    },
    Org {
        id: "dgb-germany",
        name: "Deutscher Gewerkschaftsbund",
        kind: "national_centre",
        country: Some("DE"),
        region: "europe",
        link: Link::Direct,
        city: "Berlin",
        currency: "EUR",
        budget: 260_000,
        size: 3,
        sectors: &["construction", "transport", "manufacturing"],
        conventions: &[
            ("c29", "ratified", "ratified"),
            ("c105", "ratified", "ratified"),
            ("c81", "ratified", "ratified"),
            ("c129", "ratified", "ratified"),
            ("c181", "ratified", "ratified"),
            ("c97", "ratified", "ratified"),
            ("c143", "not_ratified", "campaign_under_way"),
        ],
    },
    Org {
        id: "bwi",
        name: "Building and Wood Workers' International",
        kind: "guf",
        country: None,
        region: "global",
        link: Link::Direct,
        city: "Geneva",
        currency: "CHF",
        budget: 150_000,
        size: 2,
        sectors: &["construction", "forestry"],
        conventions: &[],
    },
];

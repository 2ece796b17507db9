"""The fixed vocabularies the demo data is drawn from: campaigns, reps, names, firmographics.

Kept apart from the generator so the story (what the demo company sells, to whom, through which
channels) can be read and tuned in one place. Order matters: the generator draws from these
sequences with a seeded RNG, so reordering them changes the data for a given seed.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The demo company sells a revenue-analytics SaaS. Reps and the product live under this domain.
COMPANY_DOMAIN = "northpeak-analytics.example"

#: Prefix of every demo campaign key: finding one means the demo was already seeded.
KEY_PREFIX = "demo-"


@dataclass(frozen=True, slots=True)
class CampaignSpec:
    """A campaign relative to the start of the demo window, with a cost range in USD."""

    slug: str
    name: str
    channel: str
    start_day: int
    days: int
    cost: tuple[int, int]
    #: How strongly the campaign pulls in new leads while it runs (events and webinars spike).
    pull: float


CAMPAIGNS = (
    CampaignSpec(
        "brand-search", "Brand search (Google Ads)", "paid_search", 0, 182, (76_000, 104_000), 9
    ),
    CampaignSpec(
        "competitor-search", "Competitor keywords", "paid_search", 30, 120, (44_000, 68_000), 5
    ),
    CampaignSpec(
        "linkedin-abm", "LinkedIn ABM - enterprise", "paid_social", 20, 100, (80_000, 130_000), 6
    ),
    CampaignSpec(
        "retargeting", "Retargeting (Meta + LinkedIn)", "paid_social", 95, 87, (18_000, 32_000), 4
    ),
    CampaignSpec(
        "webinar-pipeline",
        "Webinar: pipeline analytics 101",
        "webinar",
        42,
        21,
        (12_000, 22_000),
        22,
    ),
    CampaignSpec(
        "webinar-revops", "Webinar: the RevOps playbook", "webinar", 128, 21, (14_000, 24_000), 24
    ),
    CampaignSpec(
        "benchmark-report", "SaaS benchmark report", "content", 10, 160, (28_000, 42_000), 6
    ),
    CampaignSpec(
        "growth-summit", "Field event: Growth Summit booth", "events", 76, 4, (70_000, 120_000), 150
    ),
    CampaignSpec("nurture", "Email nurture programme", "email", 0, 182, (6_000, 12_000), 2),
    CampaignSpec(
        "launch-email", "Product launch announcement", "email", 150, 14, (3_000, 6_000), 8
    ),
    CampaignSpec("partner-referrals", "Partner referrals", "partner", 0, 182, (32_000, 52_000), 4),
    CampaignSpec("seo-blog", "SEO and blog", "organic", 0, 182, (0, 0), 8),
)


@dataclass(frozen=True, slots=True)
class RepSpec:
    """A sales rep; ``left_day`` (days into the window) makes a rep inactive from then on."""

    name: str
    territory: str
    segments: tuple[str, ...]
    capacity: int
    left_day: int | None = None
    time_zone: str | None = None
    """Their own time zone, over the territory default of the demo rulebook (issue 16)."""
    away_days: tuple[float, float] | None = None
    """Out of office from this many days before the seed day to this many after it."""


REPS = (
    RepSpec("Maya Thompson", "NA", ("enterprise",), 25),
    RepSpec("Jordan Reyes", "NA", ("enterprise", "mid_market"), 30, left_day=70),
    RepSpec("Ethan Brooks", "NA", ("mid_market",), 40),
    RepSpec("Priya Nair", "NA", ("mid_market", "smb"), 50),
    RepSpec("Lucas Martin", "NA", ("smb",), 80, time_zone="America/Los_Angeles"),
    RepSpec("Chloe Bennett", "NA", ("smb",), 80),
    RepSpec("Sofia Keller", "EMEA", ("enterprise",), 25, away_days=(3, 6)),
    RepSpec("Tom Hughes", "EMEA", ("mid_market",), 40),
    RepSpec("Lea Dubois", "EMEA", ("smb", "mid_market"), 60),
    RepSpec("Jonas Berg", "EMEA", ("smb",), 60, left_day=120),
    RepSpec("Kenji Sato", "APAC", ("enterprise", "mid_market"), 35),
    RepSpec("Aisha Rahman", "APAC", ("smb", "mid_market"), 60),
)

#: Weighted pools (rules/demo/routing.yaml `weights`): (territory, segment) -> rep name -> weight.
POOL_WEIGHTS: dict[tuple[str, str], dict[str, float]] = {
    ("NA", "mid_market"): {"Ethan Brooks": 0.7, "Priya Nair": 0.3},
}

#: ISO 3166 alpha-2 codes per territory, with the share of accounts each country gets.
COUNTRIES: dict[str, tuple[tuple[str, float], ...]] = {
    "NA": (("US", 0.86), ("CA", 0.14)),
    "EMEA": (("GB", 0.3), ("DE", 0.24), ("FR", 0.14), ("NL", 0.1), ("SE", 0.08), ("ES", 0.07),
             ("IE", 0.07)),
    "APAC": (("AU", 0.35), ("SG", 0.2), ("JP", 0.2), ("IN", 0.25)),
}  # fmt: skip
TERRITORY_SHARE = (("NA", 0.56), ("EMEA", 0.3), ("APAC", 0.14))
TERRITORY_OF = {code: t for t, codes in COUNTRIES.items() for code, _ in codes}
TLD_OF = {"US": "com", "CA": "ca", "GB": "co.uk", "DE": "de", "FR": "fr", "NL": "nl", "SE": "se",
          "ES": "es", "IE": "ie", "AU": "com.au", "SG": "sg", "JP": "jp", "IN": "in"}  # fmt: skip

#: Industry, share of accounts, and how well the product fits it (0..1).
INDUSTRIES = (
    ("software", 0.24, 1.0), ("fintech", 0.1, 0.9), ("professional_services", 0.1, 0.8),
    ("healthcare", 0.09, 0.6), ("manufacturing", 0.1, 0.5), ("retail", 0.1, 0.55),
    ("logistics", 0.07, 0.5), ("media", 0.06, 0.7), ("education", 0.06, 0.35),
    ("telecom", 0.05, 0.65), ("government", 0.03, 0.1),
)  # fmt: skip

NAME_HEADS = (
    "bright", "blue", "north", "quantum", "silver", "iron", "cedar", "harbor", "summit", "nova",
    "lumen", "vector", "apex", "clear", "swift", "open", "atlas", "prism", "maple", "orbit",
    "river", "stone", "delta", "echo", "pixel", "terra", "polar", "cobalt", "ember", "vivid",
)  # fmt: skip
NAME_TAILS = (
    "forge", "leaf", "works", "labs", "logic", "path", "grid", "stack", "wave", "bridge",
    "field", "point", "scale", "loop", "mint", "shift", "line", "base", "hub", "sense",
)  # fmt: skip
NAME_SUFFIXES = ("", "", "", "hq", "app", "io", "group", "systems")

FIRST_NAMES = (
    "James", "Mary", "Wei", "Fatima", "Lars", "Ana", "Hiroshi", "Olivia", "Mateo", "Chiara",
    "Noah", "Emma", "Arjun", "Zoe", "Felix", "Ingrid", "Diego", "Hannah", "Omar", "Sakura",
    "Liam", "Amelia", "Yusuf", "Clara", "Ravi", "Nina", "Samuel", "Elena", "Kwame", "Grace",
    "Daniel", "Leila", "Tobias", "Mei", "Aaron", "Sophie", "Marco", "Julia", "Kai", "Isabel",
)  # fmt: skip
LAST_NAMES = (
    "Smith", "Garcia", "Chen", "Muller", "Johansson", "Rossi", "Tanaka", "Kim", "Patel",
    "Brown", "Dubois", "Novak", "Silva", "Okafor", "Jensen", "Lopez", "Schmidt", "Wilson",
    "Nguyen", "Kowalski", "Haddad", "Murphy", "Fischer", "Singh", "Costa", "Evans", "Yamamoto",
    "Andersen", "Martin", "Walker", "Ibrahim", "Clarke", "Moreau", "Berg", "Ito", "Reid",
)  # fmt: skip
FREE_MAIL = ("gmail.com", "outlook.com", "yahoo.com", "icloud.com", "proton.me")

#: Seniority, share of leads, fit points.
SENIORITIES = (
    ("c_level", 0.06, 30), ("vp", 0.1, 26), ("director", 0.18, 22),
    ("manager", 0.28, 14), ("individual", 0.38, 6),
)  # fmt: skip

#: Department, share of leads, fit points, title noun.
DEPARTMENTS = (
    ("sales", 0.2, 20, "Sales"), ("marketing", 0.22, 20, "Marketing"),
    ("operations", 0.14, 20, "Revenue Operations"), ("data", 0.1, 16, "Data"),
    ("engineering", 0.1, 8, "Engineering"), ("finance", 0.08, 12, "Finance"),
    ("product", 0.08, 10, "Product"), ("it", 0.05, 8, "IT"), ("hr", 0.03, 2, "People"),
)  # fmt: skip
C_LEVEL_TITLES = {"sales": "Chief Revenue Officer", "marketing": "Chief Marketing Officer",
                  "finance": "Chief Financial Officer", "engineering": "Chief Technology Officer",
                  "it": "Chief Information Officer", "data": "Chief Data Officer",
                  "operations": "Chief Operating Officer", "product": "Chief Product Officer",
                  "hr": "Chief People Officer"}  # fmt: skip
INDIVIDUAL_TITLES = {"sales": "Account Executive", "marketing": "Marketing Specialist",
                     "operations": "RevOps Analyst", "data": "Data Analyst",
                     "engineering": "Software Engineer", "finance": "Financial Analyst",
                     "product": "Product Analyst", "it": "Systems Administrator",
                     "hr": "HR Generalist"}  # fmt: skip

#: Engagement points per activity type, as the demo rulebook scores them.
ACTIVITY_POINTS = {
    "page_view": 1, "email_open": 1, "email_click": 3, "pricing_page_view": 5,
    "content_download": 8, "form_submit": 10, "webinar_attended": 12, "trial_signup": 20,
    "meeting_booked": 20, "demo_request": 25,
}  # fmt: skip
#: Background engagement mix for leads that are only browsing and reading.
BROWSING = (("page_view", 45), ("email_open", 28), ("email_click", 10), ("content_download", 6),
            ("pricing_page_view", 6), ("form_submit", 2), ("webinar_attended", 3))  # fmt: skip
PAGES = ("/", "/product", "/pricing", "/customers", "/blog/pipeline-velocity", "/security",
         "/blog/forecasting", "/integrations/salesforce", "/integrations/hubspot")  # fmt: skip
ASSETS = ("saas-benchmark-report", "revops-playbook", "forecasting-checklist", "roi-calculator")

REJECTION_REASONS = ("too_small", "wrong_persona", "no_budget", "bad_timing", "duplicate",
                     "competitor")  # fmt: skip
REJECTION_NOTES = {
    "too_small": "Under 20 seats, below our sales-assisted threshold.",
    "wrong_persona": "Not a buyer or influencer for revenue analytics.",
    "no_budget": "No budget this fiscal year.",
    "bad_timing": "Mid-migration to a new CRM, come back next quarter.",
    "duplicate": "Already in an open conversation with this account.",
    "competitor": "Works for a competitor, researching us.",
}
MARKETING_DISQUALIFY = ("competitor", "student", "spam")
WON_REASONS = (("best_fit", 0.4), ("integrations", 0.25), ("time_to_value", 0.2), ("price", 0.15))
LOST_REASONS = (("competitor", 0.3), ("no_decision", 0.25), ("price", 0.2), ("no_budget", 0.12),
                ("timing", 0.08), ("missing_feature", 0.05))  # fmt: skip

#: Plan name and annual contract value range (USD) per segment.
PLANS = {"smb": ("Starter", 4_000, 15_000), "mid_market": ("Growth", 15_000, 48_000),
         "enterprise": ("Enterprise", 48_000, 180_000)}  # fmt: skip

//! The names the Pebble dialect knows: filters, functions and tests with their parameter names.
//!
//! The parser uses these to reject unknown names with a suggestion and to turn Pebble's named
//! arguments (`date(timeZone='UTC')`) into positional ones, so every runtime implementation
//! receives its arguments in a fixed order (a missing one arrives as `none`).

/// A callable's parameters, in positional order; `None` means it takes any number of arguments.
pub(crate) type Params = Option<&'static [&'static str]>;

const DATE: &[&str] = &["format", "timeZone", "existingFormat", "locale"];
const DATE_ADD: &[&str] = &[
    "amount",
    "unit",
    "format",
    "timeZone",
    "existingFormat",
    "locale",
];
const TIMESTAMP: &[&str] = &["timeZone", "existingFormat"];
const NONE: &[&str] = &[];
const SEPARATOR: &[&str] = &["separator"];
const INDENT: &[&str] = &["amount", "prefix"];

pub(crate) const FILTERS: &[(&str, Params)] = &[
    ("abbreviate", Some(&["length"])),
    ("abs", Some(NONE)),
    ("base64decode", Some(NONE)),
    ("base64encode", Some(NONE)),
    ("capitalize", Some(NONE)),
    ("chunk", Some(&["size"])),
    ("date", Some(DATE)),
    ("dateAdd", Some(DATE_ADD)),
    ("default", Some(&["default"])),
    ("distinct", Some(NONE)),
    ("endsWith", Some(&["value"])),
    ("escapeChar", Some(&["type"])),
    ("first", Some(NONE)),
    ("flatten", Some(NONE)),
    ("fromJson", Some(NONE)),
    ("indent", Some(INDENT)),
    ("join", Some(SEPARATOR)),
    ("jq", Some(&["expression"])),
    ("json", Some(NONE)),
    ("keys", Some(NONE)),
    ("last", Some(NONE)),
    ("length", Some(NONE)),
    ("lower", Some(NONE)),
    ("merge", Some(&["items"])),
    ("nindent", Some(INDENT)),
    ("number", Some(&["type"])),
    ("numberformat", Some(&["format"])),
    ("regexExtract", Some(&["regex", "group"])),
    ("regexMatch", Some(&["regex"])),
    ("regexReplace", Some(&["regex", "replacement"])),
    ("replace", Some(&["replace_pairs", "regexp"])),
    ("reverse", Some(NONE)),
    ("rsort", Some(NONE)),
    ("slice", Some(&["fromIndex", "toIndex"])),
    ("slugify", Some(NONE)),
    ("sort", Some(NONE)),
    ("split", Some(&["delimiter", "limit"])),
    ("startsWith", Some(&["value"])),
    ("string", Some(NONE)),
    ("substringAfter", Some(SEPARATOR)),
    ("substringAfterLast", Some(SEPARATOR)),
    ("substringBefore", Some(SEPARATOR)),
    ("substringBeforeLast", Some(SEPARATOR)),
    ("timestamp", Some(TIMESTAMP)),
    ("timestampMicro", Some(TIMESTAMP)),
    ("timestampMilli", Some(TIMESTAMP)),
    ("timestampNano", Some(TIMESTAMP)),
    ("title", Some(NONE)),
    ("toJson", Some(NONE)),
    ("trim", Some(NONE)),
    ("upper", Some(NONE)),
    ("urldecode", Some(NONE)),
    ("urlencode", Some(NONE)),
    ("values", Some(NONE)),
];

pub(crate) const FUNCTIONS: &[(&str, Params)] = &[
    ("fromJson", Some(&["json"])),
    ("json", Some(&["json"])),
    ("kv", Some(&["key", "namespace", "errorOnMissing"])),
    ("max", None),
    ("min", None),
    ("now", Some(&["timeZone"])),
    ("range", Some(&["start", "end", "step"])),
    ("read", Some(&["path"])),
    ("render", Some(&["toRender", "recursive"])),
    ("renderOnce", Some(&["toRender"])),
    ("secret", Some(&["key"])),
];

pub(crate) const TESTS: &[&str] = &[
    "defined", "empty", "even", "iterable", "json", "map", "null", "odd",
];

pub(crate) fn filter(name: &str) -> Option<Params> {
    FILTERS.iter().find(|(n, _)| *n == name).map(|(_, p)| *p)
}

pub(crate) fn function(name: &str) -> Option<Params> {
    FUNCTIONS.iter().find(|(n, _)| *n == name).map(|(_, p)| *p)
}

/// ` (did you mean 'x'?)` when a known name is close to the unknown one, else empty.
pub(crate) fn suggestion<'a>(unknown: &str, known: impl Iterator<Item = &'a str>) -> String {
    known
        .map(|k| (strsim::jaro_winkler(unknown, k), k))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| format!(" (did you mean '{k}'?)"))
        .unwrap_or_default()
}

//! Surveys: the questions a playbook asks, in a sidecar file `PLAYBOOK.survey.yml` beside it.
//!
//! The file uses the field names of AWX's `survey_spec` (`name`, `description`, `spec:` with
//! `question_name, question_description, variable, type, required, default, min, max, choices`) plus
//! slm-wizard's extensions `pattern` (a regex the answer must match), `format` (`ip`, `cidr`,
//! `hostname`, `port`), `generate: password` with an optional `length` (default 32), and
//! `secret: true` (implied by `type: password`).
//!
//! [`validate`] checks and coerces one answer; the headless CLI uses it for `-e` values and the
//! wizard for its form fields.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde_json::{Map, Number, Value};

use crate::compat::yaml::{self, Kind, Node, Pos};
use crate::error::{InputError, unknown_key};

/// The length of a generated password when the question does not say.
pub const DEFAULT_GENERATED_LENGTH: usize = 32;

/// A playbook's survey.
#[derive(Debug, Clone)]
pub struct Survey {
    pub path: PathBuf,
    /// The survey's title (`name`).
    pub name: String,
    pub description: String,
    pub questions: Vec<Question>,
    /// Derived from the playbook (no sidecar): see [`super::varspec`].
    pub derived: bool,
}

impl Survey {
    /// The question that sets `variable`.
    pub fn question(&self, variable: &str) -> Option<&Question> {
        self.questions.iter().find(|q| q.variable == variable)
    }
}

/// The type of an answer (`type:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuestionType {
    Text,
    /// AWX's multi-line text; validated as `text`.
    Textarea,
    Password,
    Integer,
    Float,
    MultipleChoice,
    MultiSelect,
    Boolean,
    /// A list of strings (slm-wizard extension); `format`/`pattern` apply to each item.
    List,
}

impl QuestionType {
    pub const NAMES: &'static [&'static str] = &[
        "text",
        "textarea",
        "password",
        "integer",
        "float",
        "multiplechoice",
        "multiselect",
        "boolean",
        "list",
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "text" => Self::Text,
            "textarea" => Self::Textarea,
            "password" => Self::Password,
            "integer" => Self::Integer,
            "float" => Self::Float,
            "multiplechoice" => Self::MultipleChoice,
            "multiselect" => Self::MultiSelect,
            "boolean" => Self::Boolean,
            "list" => Self::List,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Textarea => "textarea",
            Self::Password => "password",
            Self::Integer => "integer",
            Self::Float => "float",
            Self::MultipleChoice => "multiplechoice",
            Self::MultiSelect => "multiselect",
            Self::Boolean => "boolean",
            Self::List => "list",
        }
    }

    /// Text answers: `min`/`max` are lengths, `pattern` and `format` apply.
    pub fn is_text(self) -> bool {
        matches!(self, Self::Text | Self::Textarea | Self::Password)
    }

    fn is_number(self) -> bool {
        matches!(self, Self::Integer | Self::Float)
    }
}

/// A syntactic check of a text answer (`format:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// An IPv4 or IPv6 address.
    Ip,
    /// An address range `ADDRESS/PREFIX` (IPv4 or IPv6).
    Cidr,
    /// A DNS host name (RFC 1123) or an IP address.
    Hostname,
    /// A TCP/UDP port 1–65535.
    Port,
}

impl Format {
    pub const NAMES: &'static [&'static str] = &["ip", "cidr", "hostname", "port"];

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "ip" => Self::Ip,
            "cidr" => Self::Cidr,
            "hostname" => Self::Hostname,
            "port" => Self::Port,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ip => "ip",
            Self::Cidr => "cidr",
            Self::Hostname => "hostname",
            Self::Port => "port",
        }
    }

    /// What a valid value looks like, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Ip => "an IP address (e.g. 172.16.168.19 or ::1)",
            Self::Cidr => "an address range in CIDR notation (e.g. 172.16.168.0/24)",
            Self::Hostname => "a host name (e.g. db1.example.com) or an IP address",
            Self::Port => "a port number 1-65535",
        }
    }

    /// Whether `s` has this format.
    pub fn check(self, s: &str) -> bool {
        match self {
            Self::Ip => s.parse::<IpAddr>().is_ok(),
            Self::Cidr => is_cidr(s),
            Self::Hostname => s.parse::<IpAddr>().is_ok() || is_hostname(s),
            Self::Port => matches!(s.parse::<u32>(), Ok(1..=65535)) && !s.starts_with('+'),
        }
    }
}

fn is_cidr(s: &str) -> bool {
    let Some((addr, prefix)) = s.split_once('/') else {
        return false;
    };
    let Ok(addr) = addr.parse::<IpAddr>() else {
        return false;
    };
    if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) || prefix.len() > 3 {
        return false;
    }
    let Ok(bits) = prefix.parse::<u8>() else {
        return false;
    };
    bits <= if addr.is_ipv4() { 32 } else { 128 }
}

fn is_hostname(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    if s.is_empty() || s.len() > 253 {
        return false;
    }
    let labels_ok = s.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    // An all-numeric name would be a (malformed) IPv4 address, not a host name.
    labels_ok
        && !s
            .split('.')
            .next_back()
            .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
}

/// `generate: password`: a value is created from the CSPRNG when the user gives none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generate {
    /// Characters of the generated password.
    pub length: usize,
}

/// One question of a survey.
#[derive(Debug, Clone)]
pub struct Question {
    /// The label (`question_name`).
    pub name: String,
    pub description: String,
    /// The variable the answer sets.
    pub variable: String,
    pub kind: QuestionType,
    pub required: bool,
    /// A required option of a role's argument spec: the form asks for it, but a headless run
    /// does not demand it up front (the playbook may set it in ways not seen here; the role's
    /// validation task reports it missing, as Ansible does).
    pub role_validated: bool,
    /// Derived from a play's `vars_prompt`: a run that can prompt (`run` on a terminal) asks it
    /// when the play starts, so neither its default nor its being required is settled up front.
    pub prompted: bool,
    /// The default answer, already validated and coerced to the question's type.
    pub default: Option<Value>,
    /// The value the playbook itself uses when nothing sets the variable (a play var, a role
    /// default or argument spec default of a derived spec): it prefills the form but, unlike
    /// `default`, is never passed to the run, so later tasks and roles keep their precedence.
    pub playbook_default: Option<Value>,
    /// Lower bound: the length of text, the value of numbers, the item count of lists.
    pub min: Option<f64>,
    /// Upper bound, like `min`.
    pub max: Option<f64>,
    /// The valid answers of `multiplechoice` / `multiselect`.
    pub choices: Vec<String>,
    /// A regex text answers (and list items) must match (unanchored; write `^…$`).
    pub pattern: Option<regex::Regex>,
    /// What `pattern` allows, in words (slm-wizard extension `pattern_hint`): said instead of
    /// the raw regex in messages.
    pub pattern_hint: Option<String>,
    pub format: Option<Format>,
    pub generate: Option<Generate>,
    /// The answer is masked on screen and never printed or journaled.
    pub secret: bool,
    /// Where the question starts in the survey file.
    pub pos: Pos,
}

/// Reading and checking a survey file.
mod read;
pub use read::{load, load_for, load_sidecar, parse, sidecar_path};
/// Checking answers against their question.
mod answer;
pub use answer::{bad_item, validate};

/// A number as written: whole numbers without a fraction.
fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        v.to_string()
    }
}

/// A value as the user wrote it, for messages (never used for secrets).
fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

impl Question {
    /// A question with nothing set but its identity.
    pub fn blank(variable: &str, name: &str, kind: QuestionType, pos: &Pos) -> Question {
        Question {
            name: name.to_string(),
            description: String::new(),
            variable: variable.to_string(),
            kind,
            required: false,
            role_validated: false,
            prompted: false,
            default: None,
            playbook_default: None,
            min: None,
            max: None,
            choices: Vec::new(),
            pattern: None,
            pattern_hint: None,
            format: None,
            generate: None,
            secret: kind == QuestionType::Password,
            pos: pos.clone(),
        }
    }

    /// `min`/`max` as text ("1-63", "≥ 16", "≤ 100").
    fn bounds_text(&self) -> String {
        match (self.min, self.max) {
            (Some(lo), Some(hi)) => format!("{}-{}", num(lo), num(hi)),
            (Some(lo), None) => format!("at least {}", num(lo)),
            (None, Some(hi)) => format!("at most {}", num(hi)),
            (None, None) => String::new(),
        }
    }

    /// What a valid answer looks like, e.g. "an integer 1-65535" or "one of 13, 14, 15".
    pub fn expected(&self) -> String {
        let bounds = self.bounds_text();
        let mut s = match self.kind {
            QuestionType::Text | QuestionType::Textarea | QuestionType::Password => {
                let what = if self.kind == QuestionType::Password {
                    "a password"
                } else {
                    "text"
                };
                match self.format {
                    Some(f) => f.describe().to_string(),
                    None if bounds.is_empty() => what.to_string(),
                    None => format!("{what} of {bounds} characters"),
                }
            }
            QuestionType::Integer | QuestionType::Float => {
                let what = if self.kind == QuestionType::Integer {
                    "an integer"
                } else {
                    "a number"
                };
                match (self.format, bounds.is_empty()) {
                    (Some(f), true) => f.describe().to_string(),
                    (_, true) => what.to_string(),
                    (_, false) => format!("{what} {bounds}"),
                }
            }
            QuestionType::Boolean => "a boolean (true/false, yes/no)".to_string(),
            QuestionType::MultipleChoice => format!("one of {}", self.choices.join(", ")),
            QuestionType::MultiSelect => {
                format!("a list of choices from {}", self.choices.join(", "))
            }
            QuestionType::List => {
                let items = match self.format {
                    Some(f) => format!(" of {}", f.describe()),
                    None => String::new(),
                };
                let count = if bounds.is_empty() {
                    String::new()
                } else {
                    format!(" ({bounds} items)")
                };
                format!("a list{items}{count}")
            }
        };
        match (&self.pattern_hint, &self.pattern) {
            (Some(hint), _) => s.push_str(&format!(": {hint}")),
            (None, Some(p)) => s.push_str(&format!(" matching {}", p.as_str())),
            (None, None) => {}
        }
        s
    }
}

/// The defaults of every question that has one, as variables.
pub fn defaults(survey: &Survey) -> Map<String, Value> {
    survey
        .questions
        .iter()
        .filter_map(|q| q.default.clone().map(|d| (q.variable.clone(), d)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn survey(spec: &str) -> Result<Survey, InputError> {
        parse(&format!("name: t\nspec:\n{spec}"), Path::new("s.yml"))
    }

    #[test]
    fn formats() {
        assert!(Format::Cidr.check("10.0.0.0/8"));
        assert!(Format::Cidr.check("::1/128"));
        assert!(!Format::Cidr.check("10.0.0.0/33"));
        assert!(!Format::Cidr.check("10.0.0.0"));
        assert!(!Format::Cidr.check("10.0.0.0/+8"));
        assert!(Format::Hostname.check("db-1.example.com"));
        assert!(Format::Hostname.check("172.16.168.23"));
        assert!(!Format::Hostname.check("-bad.example"));
        assert!(!Format::Hostname.check("1.2.3.999"));
        assert!(Format::Port.check("5432"));
        assert!(!Format::Port.check("0"));
        assert!(!Format::Port.check("65536"));
        assert!(Format::Ip.check("fe80::1"));
        assert!(!Format::Ip.check("300.1.1.1"));
    }

    #[test]
    fn a_pattern_hint_says_in_words_what_is_allowed() {
        let s = survey(
            "  - variable: u\n    type: text\n    pattern: '^[a-z_][a-z0-9_]{0,62}$'\n    pattern_hint: lowercase letters, digits and _\n",
        )
        .expect("parses");
        let e = validate(&s.questions[0], &Value::String("Bad-Name".into())).unwrap_err();
        assert!(!e.contains("[a-z"), "no raw regex: {e}");
        assert!(e.contains("lowercase letters, digits and _"), "{e}");
        let e = survey("  - variable: u\n    type: text\n    pattern_hint: x\n").unwrap_err();
        assert!(e.to_string().contains("has none"), "{e}");
    }

    #[test]
    fn bad_item_is_the_first_that_fails_on_its_own() {
        let s = survey(
            "  - {variable: c, type: list, format: cidr, min: 2}\n  - {variable: m, type: multiselect, choices: [a, b]}\n",
        )
        .expect("parses");
        let c = s.question("c").expect("c");
        let items = [Value::from("10.0.0.0/8"), Value::from("10.0.0.1")];
        assert_eq!(bad_item(c, &items), Some(1));
        // Too few items: the list is wrong as a whole, no item is.
        assert_eq!(bad_item(c, &items[..1]), None);
        let m = s.question("m").expect("m");
        assert_eq!(bad_item(m, &[Value::from("a"), Value::from("c")]), Some(1));
    }

    #[test]
    fn question_positions_and_defaults() {
        let s =
            survey("  - variable: port\n    type: integer\n    format: port\n    default: 5432\n")
                .expect("parses");
        let q = s.question("port").expect("q");
        assert_eq!((q.pos.line, q.pos.col), (3, 5));
        assert_eq!(q.default, Some(Value::from(5432)));
        let e = survey("  - variable: port\n    type: integer\n    format: port\n    default: 0\n")
            .expect_err("bad default");
        assert!(e.to_string().starts_with("s.yml:6:14:"), "{e}");
    }
}

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

/// The keys a question may have.
const QUESTION_KEYS: &[&str] = &[
    "question_name",
    "question_description",
    "variable",
    "type",
    "required",
    "default",
    "min",
    "max",
    "choices",
    "pattern",
    "pattern_hint",
    "format",
    "generate",
    "length",
    "secret",
    // Written by AWX's survey editor; carries no meaning.
    "new_question",
];

const SURVEY_KEYS: &[&str] = &["name", "description", "spec"];

/// The survey file of a playbook: `NAME.survey.yml` (or `.survey.yaml`) beside `NAME.yml`.
pub fn sidecar_path(playbook: &Path) -> PathBuf {
    let stem = playbook
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = playbook.parent().unwrap_or(Path::new(""));
    let yml = dir.join(format!("{stem}.survey.yml"));
    if !yml.exists() {
        let yaml = dir.join(format!("{stem}.survey.yaml"));
        if yaml.exists() {
            return yaml;
        }
    }
    yml
}

/// The variable spec of `playbook`: its survey sidecar when it has one, else the spec derived
/// from its `vars_prompt`, roles' `meta/argument_specs.yml`, play vars and role defaults
/// ([`super::varspec::derive`]); `None` when neither asks anything.
pub fn load_for(playbook: &Path) -> Result<Option<Survey>, InputError> {
    if let Some(s) = load_sidecar(playbook)? {
        return Ok(Some(s));
    }
    if !playbook.is_file() {
        return Ok(None);
    }
    let derived = super::varspec::derive(playbook)?;
    Ok((!derived.questions.is_empty()).then_some(derived))
}

/// The survey sidecar of `playbook`, if it has one.
pub fn load_sidecar(playbook: &Path) -> Result<Option<Survey>, InputError> {
    let path = sidecar_path(playbook);
    if !path.exists() {
        return Ok(None);
    }
    load(&path).map(Some)
}

/// Reads and checks a survey file.
pub fn load(path: &Path) -> Result<Survey, InputError> {
    let root = yaml::load_file(path)?;
    from_node(&root, path)
}

/// Parses and checks survey text (`path` is used in positions).
pub fn parse(text: &str, path: &Path) -> Result<Survey, InputError> {
    let root = yaml::parse(text, path)?;
    from_node(&root, path)
}

fn from_node(root: &Node, path: &Path) -> Result<Survey, InputError> {
    let Some(entries) = root.as_map() else {
        return Err(InputError::at(
            &root.pos,
            format!(
                "a survey must be a mapping with 'name', 'description' and 'spec' (a list of questions), not {}",
                root.type_name()
            ),
        ));
    };
    let mut survey = Survey {
        path: path.to_path_buf(),
        name: String::new(),
        description: String::new(),
        questions: Vec::new(),
        derived: false,
    };
    let mut spec: Option<&Node> = None;
    for (k, v) in entries {
        match k.key_string().as_str() {
            "name" => survey.name = text_of(v, "name")?,
            "description" => survey.description = text_of(v, "description")?,
            "spec" => spec = Some(v),
            other => {
                return Err(InputError::at(
                    &k.pos,
                    unknown_key(other, "a survey", SURVEY_KEYS),
                ));
            }
        }
    }
    let Some(spec) = spec else {
        return Err(InputError::at(
            &root.pos,
            "the survey has no 'spec:' (the list of questions)",
        ));
    };
    let items = match &spec.kind {
        Kind::Seq(items) => items.as_slice(),
        Kind::Null => &[],
        _ => {
            return Err(InputError::at(
                &spec.pos,
                format!(
                    "'spec' must be a list of questions, not {}",
                    spec.type_name()
                ),
            ));
        }
    };
    let mut seen: HashMap<String, Pos> = HashMap::new();
    for item in items {
        let q = question(item)?;
        if let Some(first) = seen.get(&q.variable) {
            return Err(InputError::at(
                &q.pos,
                format!(
                    "variable '{}' is already asked at {first}; each variable may have one question",
                    q.variable
                ),
            ));
        }
        seen.insert(q.variable.clone(), q.pos.clone());
        survey.questions.push(q);
    }
    Ok(survey)
}

/// A scalar as text (numbers and booleans as written).
fn text_of(node: &Node, what: &str) -> Result<String, InputError> {
    match &node.kind {
        Kind::Str(s) | Kind::Unsafe(s) => Ok(s.clone()),
        Kind::Null => Ok(String::new()),
        Kind::Int(i) => Ok(i.to_string()),
        Kind::Float(f) => Ok(f.to_string()),
        _ => Err(InputError::at(
            &node.pos,
            format!("'{what}' must be text, not {}", node.type_name()),
        )),
    }
}

fn bool_of(node: &Node, what: &str) -> Result<bool, InputError> {
    match &node.kind {
        Kind::Bool(b) => Ok(*b),
        _ => Err(InputError::at(
            &node.pos,
            format!(
                "'{what}' must be a boolean (true or false), not {}",
                node.type_name()
            ),
        )),
    }
}

fn number_of(node: &Node, what: &str) -> Result<f64, InputError> {
    match &node.kind {
        Kind::Int(i) => Ok(*i as f64),
        Kind::Float(f) if f.is_finite() => Ok(*f),
        _ => Err(InputError::at(
            &node.pos,
            format!("'{what}' must be a number, not {}", node.type_name()),
        )),
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn question(node: &Node) -> Result<Question, InputError> {
    let Some(entries) = node.as_map() else {
        return Err(InputError::at(
            &node.pos,
            format!(
                "a question must be a mapping (question_name, variable, type, …), not {}",
                node.type_name()
            ),
        ));
    };
    let mut by_key: HashMap<String, (&Node, &Node)> = HashMap::new();
    for (k, v) in entries {
        let key = k.key_string();
        if !QUESTION_KEYS.contains(&key.as_str()) {
            return Err(InputError::at(
                &k.pos,
                unknown_key(&key, "a survey question", QUESTION_KEYS),
            ));
        }
        by_key.insert(key, (k, v));
    }
    let get = |k: &str| by_key.get(k).map(|(_, v)| *v);
    let key_pos = |k: &str| by_key.get(k).map(|(key, _)| key.pos.clone());

    let variable_node = get("variable").ok_or_else(|| {
        InputError::at(
            &node.pos,
            "the question has no 'variable' (the variable its answer sets)",
        )
    })?;
    let variable = text_of(variable_node, "variable")?;
    if !is_identifier(&variable) {
        return Err(InputError::at(
            &variable_node.pos,
            format!(
                "'{variable}' is not a valid variable name; use letters, digits and '_', not starting with a digit"
            ),
        ));
    }
    let type_node = get("type").ok_or_else(|| {
        InputError::at(
            &node.pos,
            format!(
                "question '{variable}' has no 'type'; valid types: {}",
                QuestionType::NAMES.join(", ")
            ),
        )
    })?;
    let type_name = text_of(type_node, "type")?;
    let kind = QuestionType::parse(&type_name).ok_or_else(|| {
        let msg = match crate::error::suggest(&type_name, QuestionType::NAMES.iter().copied()) {
            Some(s) => format!("unknown question type '{type_name}'; did you mean '{s}'?"),
            None => format!(
                "unknown question type '{type_name}'; valid types: {}",
                QuestionType::NAMES.join(", ")
            ),
        };
        InputError::at(&type_node.pos, msg)
    })?;
    let name = match get("question_name") {
        Some(n) => text_of(n, "question_name")?,
        None => variable.clone(),
    };
    let description = match get("question_description") {
        Some(n) => text_of(n, "question_description")?,
        None => String::new(),
    };
    let required = match get("required") {
        Some(n) => bool_of(n, "required")?,
        None => false,
    };
    if let Some(n) = get("new_question") {
        bool_of(n, "new_question")?;
    }
    let mut q = Question {
        description,
        required,
        ..Question::blank(&variable, &name, kind, &node.pos)
    };
    let not_for = |key: &str, n: &Node, valid_for: &str| {
        InputError::at(
            &key_pos(key).unwrap_or_else(|| n.pos.clone()),
            format!(
                "'{key}' does not apply to a {} question ('{variable}'); it is for {valid_for}",
                kind.as_str()
            ),
        )
    };

    for key in ["min", "max"] {
        let Some(n) = get(key) else { continue };
        if n.is_null() || n.as_str() == Some("") {
            continue;
        }
        if kind == QuestionType::Boolean || kind == QuestionType::MultipleChoice {
            return Err(not_for(
                key,
                n,
                "text (length), numbers (value), lists and multiselect (item count)",
            ));
        }
        let v = number_of(n, key)?;
        if kind != QuestionType::Float && v.fract() != 0.0 {
            return Err(InputError::at(
                &n.pos,
                format!(
                    "'{key}' of a {} question must be a whole number, not {v}",
                    kind.as_str()
                ),
            ));
        }
        if !kind.is_number() && v < 0.0 {
            return Err(InputError::at(
                &n.pos,
                format!("'{key}' is a length here and cannot be negative ({v})"),
            ));
        }
        if key == "min" {
            q.min = Some(v);
        } else {
            q.max = Some(v);
        }
    }
    if let (Some(lo), Some(hi)) = (q.min, q.max)
        && lo > hi
    {
        let n = get("max").unwrap_or(node);
        return Err(InputError::at(
            &n.pos,
            format!("'max' ({}) is below 'min' ({})", num(hi), num(lo)),
        ));
    }

    if let Some(n) = get("choices") {
        if !matches!(
            kind,
            QuestionType::MultipleChoice | QuestionType::MultiSelect
        ) {
            return Err(not_for("choices", n, "multiplechoice and multiselect"));
        }
        q.choices = match &n.kind {
            // AWX writes choices as one string, one choice a line.
            Kind::Str(s) => s
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect(),
            Kind::Seq(items) => items
                .iter()
                .map(|i| match &i.kind {
                    Kind::Str(_) | Kind::Int(_) | Kind::Float(_) | Kind::Bool(_) => {
                        Ok(i.key_string())
                    }
                    _ => Err(InputError::at(
                        &i.pos,
                        format!("a choice must be a scalar, not {}", i.type_name()),
                    )),
                })
                .collect::<Result<_, _>>()?,
            _ => {
                return Err(InputError::at(
                    &n.pos,
                    format!(
                        "'choices' must be a list (or AWX's one-per-line text), not {}",
                        n.type_name()
                    ),
                ));
            }
        };
    }
    if matches!(
        kind,
        QuestionType::MultipleChoice | QuestionType::MultiSelect
    ) && q.choices.is_empty()
    {
        return Err(InputError::at(
            &key_pos("choices").unwrap_or_else(|| node.pos.clone()),
            format!(
                "a {} question ('{variable}') needs a non-empty 'choices' list",
                kind.as_str()
            ),
        ));
    }

    if let Some(n) = get("pattern") {
        if !(kind.is_text() || kind == QuestionType::List) {
            return Err(not_for("pattern", n, "text, password and list questions"));
        }
        let p = text_of(n, "pattern")?;
        let re = regex::Regex::new(&p).map_err(|e| {
            InputError::at(
                &n.pos,
                format!(
                    "'pattern' is not a valid regular expression: {}",
                    e.to_string().lines().last().unwrap_or_default().trim()
                ),
            )
        })?;
        q.pattern = Some(re);
    }
    if let Some(n) = get("pattern_hint") {
        if get("pattern").is_none() {
            return Err(InputError::at(
                &n.pos,
                "'pattern_hint' describes a 'pattern'; this question has none",
            ));
        }
        q.pattern_hint = Some(text_of(n, "pattern_hint")?);
    }

    if let Some(n) = get("format") {
        let f = text_of(n, "format")?;
        let format = Format::parse(&f).ok_or_else(|| {
            let msg = match crate::error::suggest(&f, Format::NAMES.iter().copied()) {
                Some(s) => format!("unknown format '{f}'; did you mean '{s}'?"),
                None => format!(
                    "unknown format '{f}'; valid formats: {}",
                    Format::NAMES.join(", ")
                ),
            };
            InputError::at(&n.pos, msg)
        })?;
        let ok = kind.is_text()
            || kind == QuestionType::List
            || (kind == QuestionType::Integer && format == Format::Port);
        if !ok {
            return Err(InputError::at(
                &n.pos,
                format!(
                    "format '{f}' does not apply to a {} question ('{variable}'); formats are for text and list questions (and 'port' for integer)",
                    kind.as_str()
                ),
            ));
        }
        q.format = Some(format);
    }

    if let Some(n) = get("secret") {
        let s = bool_of(n, "secret")?;
        if !s && kind == QuestionType::Password {
            return Err(InputError::at(
                &n.pos,
                "a password question is always secret; remove 'secret: false' or use type text",
            ));
        }
        q.secret = s;
    }

    if let Some(n) = get("generate") {
        let what = text_of(n, "generate")?;
        if what != "password" {
            return Err(InputError::at(
                &n.pos,
                format!("unknown generator '{what}'; the only one is 'generate: password'"),
            ));
        }
        if !kind.is_text() {
            return Err(not_for("generate", n, "text and password questions"));
        }
        let length = match get("length") {
            Some(l) => match l.kind {
                Kind::Int(i) if (8..=4096).contains(&i) => i as usize,
                _ => {
                    return Err(InputError::at(
                        &l.pos,
                        format!(
                            "'length' must be a whole number 8-4096, not {}",
                            describe_node(l)
                        ),
                    ));
                }
            },
            None => DEFAULT_GENERATED_LENGTH,
        };
        let len = length as f64;
        if q.min.is_some_and(|m| len < m) || q.max.is_some_and(|m| len > m) {
            return Err(InputError::at(
                &key_pos("length").unwrap_or_else(|| n.pos.clone()),
                format!(
                    "generated passwords would be {length} characters, outside min/max ({})",
                    q.bounds_text()
                ),
            ));
        }
        q.generate = Some(Generate { length });
    } else if let Some(n) = get("length") {
        return Err(InputError::at(
            &key_pos("length").unwrap_or_else(|| n.pos.clone()),
            "'length' only goes with 'generate: password'",
        ));
    }

    if let Some(n) = get("default") {
        let value = n.to_json_plain()?;
        let empty = value.is_null() || value.as_str() == Some("");
        if !empty {
            if q.generate.is_some() {
                return Err(InputError::at(
                    &n.pos,
                    format!(
                        "'{variable}' is generated when not given; a default would never be used (remove 'default' or 'generate')"
                    ),
                ));
            }
            let v = validate(&q, &value).map_err(|e| {
                InputError::at(
                    &n.pos,
                    format!("the default of '{variable}' is invalid: {e}"),
                )
            })?;
            q.default = Some(v);
        }
    }
    Ok(q)
}

fn describe_node(n: &Node) -> String {
    match &n.kind {
        Kind::Str(s) => format!("{s:?}"),
        Kind::Int(i) => i.to_string(),
        Kind::Float(f) => f.to_string(),
        _ => n.type_name().to_string(),
    }
}

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

/// Checks an answer and converts it to the question's type: text from `-e k=v` or a form field
/// becomes an integer, a float, a boolean or a list as the question says. `Null` (and, except for
/// text, an empty string) means "no answer": an error if the question is required, else `Null`.
/// The message says what is wrong and what would be valid; for secret questions it never
/// contains the value.
pub fn validate(q: &Question, value: &Value) -> Result<Value, String> {
    let empty = match value {
        Value::Null => true,
        Value::String(s) => s.is_empty() && !q.kind.is_text(),
        _ => false,
    };
    if empty {
        return if q.required {
            Err(format!("a value is required; expected {}", q.expected()))
        } else {
            Ok(Value::Null)
        };
    }
    check(q, value).map_err(|problem| format!("{problem}; expected {}", q.expected()))
}

/// What the value is, for messages; secrets are described, not shown.
fn shown(q: &Question, v: &Value) -> String {
    if q.secret {
        "the value".to_string()
    } else {
        show(v)
    }
}

fn check(q: &Question, value: &Value) -> Result<Value, String> {
    match q.kind {
        QuestionType::Text | QuestionType::Textarea | QuestionType::Password => {
            let s = scalar_text(value).ok_or_else(|| format!("{} is not text", type_of(value)))?;
            if q.required && s.is_empty() {
                return Err("a value is required".into());
            }
            check_text(q, &s, &shown(q, value))?;
            Ok(Value::String(s))
        }
        QuestionType::Integer => {
            let i = match value {
                Value::Number(n) => n
                    .as_i64()
                    .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
                Value::String(s) => s.trim().parse::<i64>().ok(),
                _ => None,
            }
            .ok_or_else(|| format!("{} is not an integer", shown(q, value)))?;
            if q.format == Some(Format::Port) && !(1..=65535).contains(&i) {
                return Err(format!("{i} is not a port number"));
            }
            check_bounds(q, i as f64, &i.to_string())?;
            Ok(Value::from(i))
        }
        QuestionType::Float => {
            let f = match value {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().parse::<f64>().ok(),
                _ => None,
            }
            .filter(|f| f.is_finite())
            .ok_or_else(|| format!("{} is not a number", shown(q, value)))?;
            check_bounds(q, f, &num(f))?;
            Number::from_f64(f)
                .map(Value::Number)
                .ok_or_else(|| "not a finite number".to_string())
        }
        QuestionType::Boolean => match value {
            Value::Bool(b) => Ok(Value::Bool(*b)),
            Value::Number(n) if n.as_i64() == Some(0) || n.as_i64() == Some(1) => {
                Ok(Value::Bool(n.as_i64() == Some(1)))
            }
            Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "on" | "1" | "y" => Ok(Value::Bool(true)),
                "false" | "no" | "off" | "0" | "n" => Ok(Value::Bool(false)),
                _ => Err(format!("{} is not a boolean", shown(q, value))),
            },
            _ => Err(format!("{} is not a boolean", type_of(value))),
        },
        QuestionType::MultipleChoice => {
            let s = scalar_text(value)
                .ok_or_else(|| format!("{} is not one of the choices", type_of(value)))?;
            if !q.choices.contains(&s) {
                return Err(format!("{} is not one of the choices", shown(q, value)));
            }
            Ok(Value::String(s))
        }
        QuestionType::MultiSelect => {
            let items = list_items(value)?;
            let mut out = Vec::new();
            for item in &items {
                let s = scalar_text(item)
                    .ok_or_else(|| format!("{} is not one of the choices", type_of(item)))?;
                if !q.choices.contains(&s) {
                    return Err(format!("{} is not one of the choices", show(item)));
                }
                out.push(Value::String(s));
            }
            check_count(q, out.len())?;
            Ok(Value::Array(out))
        }
        QuestionType::List => {
            let items = list_items(value)?;
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let s = scalar_text(item)
                    .ok_or_else(|| format!("item {} is {}, not text", i + 1, type_of(item)))?;
                let what = if q.secret {
                    format!("item {}", i + 1)
                } else {
                    format!("item {} ({})", i + 1, show(item))
                };
                check_text_format(q, &s, &what)?;
                out.push(Value::String(s));
            }
            check_count(q, out.len())?;
            Ok(Value::Array(out))
        }
    }
}

/// The first item of a list answer that fails its question on its own (not text, not of the
/// format, not matching the pattern, not one of the choices), to point at it; `None` when the list
/// is wrong only as a whole (too few or too many items) or the question takes no list.
pub fn bad_item(q: &Question, items: &[Value]) -> Option<usize> {
    items.iter().position(|item| {
        let text = scalar_text(item);
        match q.kind {
            QuestionType::List => text.is_none_or(|s| check_text_format(q, &s, "").is_err()),
            QuestionType::MultiSelect => text.is_none_or(|s| !q.choices.contains(&s)),
            _ => false,
        }
    })
}

/// Strings and numbers as text.
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn type_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// A list answer: a list, a YAML/JSON flow list as text (`[a, b]`), or text separated by commas
/// or new lines.
fn list_items(value: &Value) -> Result<Vec<Value>, String> {
    match value {
        Value::Array(items) => Ok(items.clone()),
        Value::String(s) if s.trim_start().starts_with('[') => {
            let node = yaml::parse(s, Path::new("<answer>"))
                .map_err(|e| format!("not a valid list: {}", e.msg))?;
            match node.to_json_plain() {
                Ok(Value::Array(items)) => Ok(items),
                _ => Err("not a valid list".into()),
            }
        }
        Value::String(s) => Ok(s
            .split([',', '\n'])
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| Value::String(t.to_string()))
            .collect()),
        other => Err(format!("{} is not a list", type_of(other))),
    }
}

fn check_text(q: &Question, s: &str, what: &str) -> Result<(), String> {
    if s.is_empty() && !q.required {
        return Ok(());
    }
    let len = s.chars().count();
    let bounds = |limit: f64| num(limit);
    if let Some(lo) = q.min
        && (len as f64) < lo
    {
        return Err(format!(
            "{what} is {len} characters long, shorter than the minimum {}",
            bounds(lo)
        ));
    }
    if let Some(hi) = q.max
        && (len as f64) > hi
    {
        return Err(format!(
            "{what} is {len} characters long, longer than the maximum {}",
            bounds(hi)
        ));
    }
    check_text_format(q, s, what)
}

fn check_text_format(q: &Question, s: &str, what: &str) -> Result<(), String> {
    if let Some(f) = q.format
        && !f.check(s)
    {
        return Err(format!("{what} is not {}", f.describe()));
    }
    if let Some(p) = &q.pattern
        && !p.is_match(s)
    {
        return Err(match &q.pattern_hint {
            Some(_) => format!("{what} is not allowed here"),
            None => format!("{what} does not match {}", p.as_str()),
        });
    }
    Ok(())
}

fn check_bounds(q: &Question, v: f64, shown: &str) -> Result<(), String> {
    if let Some(lo) = q.min
        && v < lo
    {
        return Err(format!("{shown} is below the minimum {}", num(lo)));
    }
    if let Some(hi) = q.max
        && v > hi
    {
        return Err(format!("{shown} is above the maximum {}", num(hi)));
    }
    Ok(())
}

fn check_count(q: &Question, n: usize) -> Result<(), String> {
    if q.required && n == 0 {
        return Err("at least one item is required".into());
    }
    if let Some(lo) = q.min
        && (n as f64) < lo
    {
        return Err(format!("{n} items are fewer than the minimum {}", num(lo)));
    }
    if let Some(hi) = q.max
        && (n as f64) > hi
    {
        return Err(format!("{n} items are more than the maximum {}", num(hi)));
    }
    Ok(())
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

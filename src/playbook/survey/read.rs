//! Reading a survey file: the AWX `survey_spec` fields and slm-wizard's extensions, each
//! checked with its position.

use super::*;

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
/// ([`crate::playbook::varspec::derive`]); `None` when neither asks anything.
pub fn load_for(playbook: &Path) -> Result<Option<Survey>, InputError> {
    if let Some(s) = load_sidecar(playbook)? {
        return Ok(Some(s));
    }
    if !playbook.is_file() {
        return Ok(None);
    }
    let derived = crate::playbook::varspec::derive(playbook)?;
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

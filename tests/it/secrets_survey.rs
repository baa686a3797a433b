//! Surveys (`PLAYBOOK.survey.yml`) and the secret store: parsing errors with positions, answer
//! validation per type and format, the bundled survey against its playbook, and the headless run
//! with generated passwords — generated once, stored (0600 / vault), reused, never printed.

use crate::support::cmd;
use crate::support::hosts;

use std::path::{Path, PathBuf};

use cmd::{PgCluster, Run, Sandbox, mode_of, unique};
use serde_json::{Value, json};
use slm_wizard::playbook::survey::{self, Format, Question, QuestionType, Survey};

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

fn parse(text: &str) -> Result<Survey, String> {
    survey::parse(text, Path::new("s.survey.yml")).map_err(|e| e.to_string())
}

#[track_caller]
fn parse_err(text: &str) -> String {
    match parse(text) {
        Ok(_) => panic!("survey parsed but must not:\n{text}"),
        Err(e) => e,
    }
}

#[track_caller]
fn assert_err(text: &str, at: &str, needles: &[&str]) {
    let e = parse_err(text);
    assert!(
        e.starts_with(&format!("s.survey.yml:{at}: ")),
        "expected position {at}, got: {e}"
    );
    for n in needles {
        assert!(e.contains(n), "error lacks {n:?}: {e}");
    }
}

#[test]
fn unknown_question_key_is_located_with_a_suggestion() {
    assert_err(
        "name: t\nspec:\n  - variable: a\n    type: text\n    questoin_name: A\n",
        "5:5",
        &[
            "unknown key 'questoin_name'",
            "did you mean 'question_name'",
        ],
    );
}

#[test]
fn unknown_top_level_key_is_located_with_a_suggestion() {
    assert_err(
        "name: t\nspecs:\n  - variable: a\n    type: text\n",
        "2:1",
        &["unknown key 'specs'", "did you mean 'spec'"],
    );
}

#[test]
fn wrong_value_types_are_located() {
    assert_err(
        "name: t\nspec:\n  - variable: a\n    type: text\n    required: maybe\n",
        "5:15",
        &["'required' must be a boolean", "a string"],
    );
    assert_err(
        "name: t\nspec:\n  - variable: a\n    type: text\n    min: [1]\n",
        "5:10",
        &["'min' must be a number", "a list"],
    );
    assert_err(
        "name: t\nspec: {a: 1}\n",
        "2:7",
        &["'spec' must be a list of questions"],
    );
    assert_err("- a\n", "1:1", &["a survey must be a mapping"]);
}

#[test]
fn unknown_type_and_format_suggest_the_valid_one() {
    assert_err(
        "name: t\nspec:\n  - variable: a\n    type: multichoice\n    choices: [x]\n",
        "4:11",
        &[
            "unknown question type 'multichoice'",
            "did you mean 'multiplechoice'",
        ],
    );
    assert_err(
        "name: t\nspec:\n  - variable: a\n    type: text\n    format: cdir\n",
        "5:13",
        &["unknown format 'cdir'", "did you mean 'cidr'"],
    );
}

#[test]
fn inconsistent_questions_are_refused() {
    // A default that is not one of the choices.
    assert_err(
        "name: t\nspec:\n  - variable: v\n    type: multiplechoice\n    choices: ['13', '15']\n    default: '14'\n",
        "6:14",
        &["default of 'v' is invalid", "one of 13, 15"],
    );
    // A regex that does not compile.
    assert_err(
        "name: t\nspec:\n  - variable: u\n    type: text\n    pattern: '^[a-z'\n",
        "5:14",
        &["'pattern' is not a valid regular expression"],
    );
    // The same variable twice.
    assert_err(
        "name: t\nspec:\n  - variable: u\n    type: text\n  - variable: u\n    type: integer\n",
        "5:5",
        &["variable 'u' is already asked at s.survey.yml:3:5"],
    );
    // min above max.
    assert_err(
        "name: t\nspec:\n  - variable: n\n    type: integer\n    min: 10\n    max: 5\n",
        "6:10",
        &["'max' (5) is below 'min' (10)"],
    );
    // generate on a number; a generated length outside min/max.
    assert_err(
        "name: t\nspec:\n  - variable: n\n    type: integer\n    generate: password\n",
        "5:5",
        &["'generate' does not apply to a integer question"],
    );
    assert_err(
        "name: t\nspec:\n  - variable: p\n    type: password\n    generate: password\n    length: 12\n    min: 16\n",
        "6:5",
        &["12 characters, outside min/max (at least 16)"],
    );
    // Missing variable / type, invalid variable name, choices missing.
    assert_err(
        "name: t\nspec:\n  - type: text\n",
        "3:5",
        &["no 'variable'"],
    );
    assert_err(
        "name: t\nspec:\n  - variable: 1abc\n    type: text\n",
        "3:15",
        &["not a valid variable name"],
    );
    assert_err(
        "name: t\nspec:\n  - variable: c\n    type: multiselect\n",
        "3:5",
        &["needs a non-empty 'choices'"],
    );
    // YAML syntax errors keep their position.
    let e = parse_err("name: t\nspec: [\n");
    assert!(e.starts_with("s.survey.yml:"), "{e}");
}

#[test]
fn awx_style_fields_are_accepted() {
    let s = parse(
        "name: T\ndescription: D\nspec:\n  - question_name: Pick\n    question_description: one\n    variable: pick\n    type: multiselect\n    choices: \"a\\nb\\nc\"\n    default: \"a\\nc\"\n    required: false\n    new_question: true\n    min: ''\n    max: ''\n",
    )
    .expect("AWX export parses");
    assert_eq!((s.name.as_str(), s.description.as_str()), ("T", "D"));
    let q = s.question("pick").expect("question");
    assert_eq!(q.choices, ["a", "b", "c"]);
    assert_eq!(q.default, Some(json!(["a", "c"])));
    assert_eq!(q.kind, QuestionType::MultiSelect);
}

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

fn question(yaml: &str) -> Question {
    let s = parse(&format!("name: t\nspec:\n  - variable: v\n{yaml}")).expect("parses");
    s.questions.into_iter().next().expect("one question")
}

#[track_caller]
fn ok(q: &Question, v: Value) -> Value {
    survey::validate(q, &v).unwrap_or_else(|e| panic!("{v} must be valid: {e}"))
}

#[track_caller]
fn bad(q: &Question, v: Value, needle: &str) {
    match survey::validate(q, &v) {
        Ok(x) => panic!("{v} must be invalid, got {x}"),
        Err(e) => assert!(e.contains(needle), "error for {v} lacks {needle:?}: {e}"),
    }
}

#[test]
fn text_length_pattern_and_required() {
    let q = question(
        "    type: text\n    pattern: '^[a-z_][a-z0-9_]{0,62}$'\n    min: 2\n    max: 10\n    required: true\n",
    );
    assert_eq!(ok(&q, json!("slm_app")), json!("slm_app"));
    bad(&q, json!("Slm"), "does not match ^[a-z_][a-z0-9_]{0,62}$");
    bad(&q, json!("a"), "shorter than the minimum 2");
    bad(&q, json!("abcdefghijk"), "longer than the maximum 10");
    bad(&q, json!(""), "required");
    bad(&q, Value::Null, "required");
    bad(&q, json!(["a"]), "is not text");
    // Numbers from YAML become their text.
    let q2 = question("    type: text\n");
    assert_eq!(ok(&q2, json!(123)), json!("123"));
    // Optional and empty: fine (and "no answer" for null).
    assert_eq!(ok(&q2, json!("")), json!(""));
    assert_eq!(ok(&q2, Value::Null), Value::Null);
}

#[test]
fn password_errors_never_show_the_value() {
    let q = question("    type: password\n    min: 16\n    pattern: '[0-9]'\n");
    assert!(q.secret);
    let e = survey::validate(&q, &json!("hunter2hunter")).expect_err("too short");
    assert!(!e.contains("hunter2"), "{e}");
    assert!(e.contains("13 characters long"), "{e}");
    let e = survey::validate(&q, &json!("nodigitsnodigitsno")).expect_err("pattern");
    assert!(!e.contains("nodigits"), "{e}");
}

#[test]
fn integers_floats_and_ports() {
    let q = question("    type: integer\n    format: port\n");
    assert_eq!(ok(&q, json!("5432")), json!(5432));
    assert_eq!(ok(&q, json!(" 5433 ")), json!(5433));
    assert_eq!(ok(&q, json!(5434)), json!(5434));
    bad(&q, json!("70000"), "not a port number");
    bad(&q, json!(0), "not a port number");
    bad(&q, json!("54x"), "is not an integer");
    bad(&q, json!(true), "is not an integer");
    // Empty is "no answer" for numbers: null when optional, an error when required.
    assert_eq!(ok(&q, json!("")), Value::Null);
    let required = question("    type: integer\n    required: true\n");
    bad(
        &required,
        json!(""),
        "a value is required; expected an integer",
    );
    let q = question("    type: integer\n    min: -1\n    max: 86400\n");
    assert_eq!(ok(&q, json!("-1")), json!(-1));
    bad(&q, json!(-2), "below the minimum -1");
    bad(&q, json!("86401"), "above the maximum 86400");
    bad(&q, json!(1.5), "is not an integer");
    let q = question("    type: float\n    min: 0.5\n    max: 2\n");
    assert_eq!(ok(&q, json!("1.25")), json!(1.25));
    assert_eq!(ok(&q, json!(2)), json!(2.0));
    bad(&q, json!("0.1"), "below the minimum 0.5");
    bad(&q, json!("abc"), "is not a number");
    bad(&q, json!("inf"), "is not a number");
}

#[test]
fn booleans() {
    let q = question("    type: boolean\n");
    for t in ["true", "yes", "On", "1", "y"] {
        assert_eq!(ok(&q, json!(t)), json!(true), "{t}");
    }
    for f in ["false", "NO", "off", "0", "n"] {
        assert_eq!(ok(&q, json!(f)), json!(false), "{f}");
    }
    assert_eq!(ok(&q, json!(true)), json!(true));
    assert_eq!(ok(&q, json!(0)), json!(false));
    bad(&q, json!("maybe"), "is not a boolean");
    bad(&q, json!(2), "is not a boolean");
}

#[test]
fn choices_and_multiselect() {
    let q = question(
        "    type: multiplechoice\n    choices: ['13', '14', '15', '16', '17']\n    default: '15'\n",
    );
    assert_eq!(q.default, Some(json!("15")));
    assert_eq!(ok(&q, json!("16")), json!("16"));
    assert_eq!(ok(&q, json!(17)), json!("17"));
    bad(
        &q,
        json!("12"),
        "not one of the choices; expected one of 13, 14, 15, 16, 17",
    );
    let q = question("    type: multiselect\n    choices: [a, b, c]\n    max: 2\n");
    assert_eq!(ok(&q, json!("a,c")), json!(["a", "c"]));
    assert_eq!(ok(&q, json!(["b"])), json!(["b"]));
    bad(&q, json!("a,d"), "\"d\" is not one of the choices");
    bad(&q, json!(["a", "b", "c"]), "more than the maximum 2");
}

#[test]
fn lists_validate_each_item_by_format() {
    let q = question("    type: list\n    format: cidr\n");
    assert_eq!(
        ok(&q, json!("10.0.0.0/8, 172.16.168.19/32")),
        json!(["10.0.0.0/8", "172.16.168.19/32"])
    );
    assert_eq!(ok(&q, json!("['::1/128']")), json!(["::1/128"]));
    assert_eq!(ok(&q, json!(["192.168.1.0/24"])), json!(["192.168.1.0/24"]));
    assert_eq!(ok(&q, json!([])), json!([]));
    bad(
        &q,
        json!(["10.0.0.0/8", "10.0.0.300/8"]),
        "item 2 (\"10.0.0.300/8\") is not an address range",
    );
    bad(&q, json!(["172.16.168.19"]), "item 1");
    bad(&q, json!([["x"]]), "item 1 is a list");
    bad(&q, json!(5), "is not a list");
    let q = question("    type: list\n    format: hostname\n    min: 1\n");
    assert_eq!(
        ok(&q, json!("db1.example.com\n172.16.168.23")),
        json!(["db1.example.com", "172.16.168.23"])
    );
    bad(&q, json!(["bad_host!"]), "is not a host name");
    bad(&q, json!([]), "fewer than the minimum 1");
}

#[test]
fn text_formats() {
    let ip = question("    type: text\n    format: ip\n");
    ok(&ip, json!("172.16.168.19"));
    ok(&ip, json!("fe80::1"));
    bad(&ip, json!("172.16.168.256"), "is not an IP address");
    let port = question("    type: text\n    format: port\n");
    ok(&port, json!("22"));
    bad(&port, json!("65536"), "is not a port number 1-65535");
    for (f, good, wrong) in [
        (Format::Cidr, "10.1.0.0/16", "10.1.0.0/40"),
        (Format::Hostname, "redis-vm", "redis_vm"),
        (Format::Ip, "::1", "::g"),
        (Format::Port, "5432", "-1"),
    ] {
        assert!(f.check(good), "{f:?} {good}");
        assert!(!f.check(wrong), "{f:?} {wrong}");
    }
}

// ---------------------------------------------------------------------------------------------
// The bundled survey
// ---------------------------------------------------------------------------------------------

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn bundled_survey_matches_its_playbook() {
    let pb_path = repo().join("playbooks/user-management-db.yml");
    let s = survey::load_for(&pb_path)
        .expect("survey parses")
        .expect("survey exists");
    assert_eq!(s.name, "User Management Database");
    let vault = |_: &str,
                 pos: &slm_wizard::compat::yaml::Pos|
     -> Result<String, slm_wizard::compat::yaml::YamlError> {
        Err(slm_wizard::compat::yaml::YamlError {
            pos: pos.clone(),
            msg: "no vault".into(),
        })
    };
    let pb = slm_wizard::playbook::load(&pb_path, &vault).expect("playbook loads");
    let vars = &pb.plays[0].common.vars;
    for var in [
        "postgresql_version",
        "slm_db_user",
        "autobot_db_user",
        "slm_db_password",
        "autobot_db_password",
        "postgresql_allowed_clients",
        "postgresql_ssl",
        "postgresql_port",
        "slm_db_pool_size",
        "slm_db_pool_max_overflow",
        "slm_db_pool_recycle",
    ] {
        let q = s
            .question(var)
            .unwrap_or_else(|| panic!("no question for {var}"));
        // Every default is the play's value, after the question's own coercion.
        if let Some(d) = &q.default {
            let play = vars
                .get(var)
                .unwrap_or_else(|| panic!("{var} has a survey default but no play default"));
            assert_eq!(
                &survey::validate(q, play).expect("play default is valid"),
                d,
                "{var}"
            );
        }
    }
    let v = s.question("postgresql_version").expect("version");
    assert_eq!(v.choices, ["13", "14", "15", "16", "17"]);
    assert_eq!(v.default, Some(json!("15")));
    for pw in ["slm_db_password", "autobot_db_password"] {
        let q = s.question(pw).expect("password");
        assert!(
            q.secret && q.generate.is_some() && q.min == Some(16.0),
            "{pw}"
        );
        assert!(
            !vars.contains_key(pw),
            "{pw} must not have a play default (it is generated)"
        );
    }
    let clients = s.question("postgresql_allowed_clients").expect("clients");
    assert_eq!(
        (clients.kind, clients.format),
        (QuestionType::List, Some(Format::Cidr))
    );
    assert!(
        !vars.contains_key("postgresql_allowed_clients"),
        "a play default would override the inventory's"
    );
    let port = s.question("postgresql_port").expect("port");
    assert_eq!(port.default, Some(json!(5432)));
    assert_eq!(
        s.question("slm_db_user").map(|q| q.default.clone()),
        Some(Some(json!("slm_app")))
    );
}

// ---------------------------------------------------------------------------------------------
// Headless runs with a generated password (a tiny playbook, local connection)
// ---------------------------------------------------------------------------------------------

const PLAYBOOK: &str = r#"- hosts: all
  gather_facts: no
  tasks:
    - name: write the password
      copy:
        content: "{{ db_password }}"
        dest: "@D@/out/password.txt"
        mode: "0600"
    - name: write the key
      copy:
        content: "{{ api_key }}"
        dest: "@D@/out/key.txt"
        mode: "0600"
    - name: show the key
      debug:
        msg: "key={{ api_key }}"
"#;

const SURVEY: &str = r#"name: Tiny
description: A password in a file.
spec:
  - question_name: Database password
    variable: db_password
    type: password
    generate: password
    min: 16
    required: true
  # A secret whose name does not look secret: only the survey says so.
  - question_name: API key
    variable: api_key
    type: text
    secret: true
    generate: password
    length: 40
"#;

/// A sandbox with the tiny playbook and its survey; returns the playbook path.
fn tiny() -> (Sandbox, PathBuf) {
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.p("out")).expect("out dir");
    let pb = sb.write("tiny.yml", PLAYBOOK);
    sb.write("tiny.survey.yml", SURVEY);
    (sb, pb)
}

fn cli(sb: &Sandbox, args: &[&str]) -> Run {
    sb.run_raw(args)
}

/// The store file of the sandbox's deployment, as `secrets path` reports it.
fn store_of(sb: &Sandbox, pb: &Path) -> PathBuf {
    let pbs = pb.display().to_string();
    let inv = sb.inventory().display().to_string();
    let r = cli(sb, &["secrets", "path", &pbs, "-i", &inv]);
    r.assert_ok();
    let p = PathBuf::from(r.stdout.trim());
    assert!(
        p.starts_with(sb.state_dir().join("slm-wizard/secrets")),
        "store outside the state dir: {}",
        p.display()
    );
    p
}

#[track_caller]
fn assert_hidden(sb: &Sandbox, runs: &[&Run], secret: &str) {
    assert!(secret.len() >= 16, "suspiciously short secret");
    for r in runs {
        assert!(!r.stdout.contains(secret), "secret on stdout\n{}", r.dump());
        assert!(!r.stderr.contains(secret), "secret on stderr\n{}", r.dump());
    }
    assert!(!sb.journal().contains(secret), "secret in the journal");
}

#[test]
fn generated_secrets_are_stored_reused_and_never_shown() {
    let (sb, pb) = tiny();
    let store = store_of(&sb, &pb);

    let first = sb.run_file(&pb, &[]);
    first.assert_ok();
    assert_eq!(first.changed("local1"), 2, "{}", first.dump());
    let pw = sb.read("out/password.txt");
    let key = sb.read("out/key.txt");
    assert_eq!(pw.len(), 32, "default length");
    assert_eq!(key.len(), 40, "length: 40");
    assert!(
        pw.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "URL-safe"
    );
    assert!(
        first.stderr.contains(&format!(
            "generated db_password (stored in {})",
            store.display()
        )),
        "{}",
        first.dump()
    );
    assert!(first.stderr.contains("generated api_key (stored in"));
    // Stored, private, plain YAML the run can read back.
    assert_eq!(mode_of(&store), 0o600);
    assert_eq!(mode_of(store.parent().expect("dir")), 0o700);
    let stored = std::fs::read_to_string(&store).expect("store");
    assert!(
        stored.contains(&format!("db_password: \"{pw}\"")),
        "{stored}"
    );
    // The debug message went through the redactor.
    let shown = first.result("show the key");
    assert!(shown.to_string().contains("key=********"), "{shown}");

    let second = sb.run_file(&pb, &[]);
    second.assert_ok();
    assert_eq!(
        second.changed("local1"),
        0,
        "re-run must reuse\n{}",
        second.dump()
    );
    assert_eq!(sb.read("out/password.txt"), pw);
    assert_eq!(
        std::fs::read_to_string(&store).expect("store"),
        stored,
        "store rewritten"
    );
    assert!(!second.stderr.contains("generated"), "{}", second.dump());

    // show masks, --reveal shows.
    let pbs = pb.display().to_string();
    let inv = sb.inventory().display().to_string();
    let show = cli(&sb, &["secrets", "show", &pbs, "-i", &inv]);
    show.assert_ok();
    assert!(
        show.stdout.contains("db_password: ********"),
        "{}",
        show.dump()
    );
    assert!(show.stdout.contains("api_key: ********"), "{}", show.dump());
    assert_hidden(&sb, &[&first, &second, &show], &pw);
    assert_hidden(&sb, &[&first, &second, &show], &key);
    let reveal = cli(&sb, &["secrets", "show", &pbs, "-i", &inv, "--reveal"]);
    assert!(reveal.stdout.contains(&pw), "{}", reveal.dump());

    // -e wins over the stored value, and the store is left alone.
    let given = "given-password-0123456789";
    let third = sb.run_file(&pb, &["-e", &format!("db_password={given}")]);
    third.assert_ok();
    assert_eq!(sb.read("out/password.txt"), given);
    assert_eq!(
        sb.read("out/key.txt"),
        key,
        "the other secret is still reused"
    );
    assert_eq!(std::fs::read_to_string(&store).expect("store"), stored);
    assert_hidden(&sb, &[&third], given);

    // A bad -e answer: exit 5, naming the variable and what is valid, before anything runs.
    let bad = sb.run_file(&pb, &["-e", "db_password=short"]);
    assert_eq!(bad.code, 5, "{}", bad.dump());
    assert!(bad.stderr.contains("-e db_password:"), "{}", bad.dump());
    assert!(
        bad.stderr.contains("at least 16 characters"),
        "{}",
        bad.dump()
    );
    assert!(!bad.stdout.contains("task_result"), "{}", bad.dump());

    // Export: a 0600 file usable with -e @FILE (here by another deployment, generation off).
    let exported = sb.p("exported.yml");
    let ex = cli(
        &sb,
        &[
            "secrets",
            "export",
            &pbs,
            "-i",
            &inv,
            "--output",
            &exported.display().to_string(),
        ],
    );
    ex.assert_ok();
    assert_eq!(mode_of(&exported), 0o600);
    let other_inv = sb.write("other/inventory.yml", cmd::LOCAL_INVENTORY);
    let r = sb.run_raw(&[
        "run".to_string(),
        pbs.clone(),
        "-i".into(),
        other_inv.display().to_string(),
        "--json".into(),
        "--no-generate".into(),
        "-e".into(),
        format!("@{}", exported.display()),
    ]);
    r.assert_ok();
    assert_eq!(sb.read("out/password.txt"), pw);
}

#[test]
fn deployments_do_not_share_secrets_and_no_generate_generates_nothing() {
    let (sb, pb) = tiny();
    let a = sb.run_file(&pb, &[]);
    a.assert_ok();
    let pw_a = sb.read("out/password.txt");

    // The same playbook on other hosts is another deployment (a copy of the same inventory is
    // not: see a_copy_of_the_inventory_finds_the_same_secrets).
    let inv_b = sb.write(
        "b/inventory.yml",
        &cmd::LOCAL_INVENTORY.replace("local1", "local2"),
    );
    let run_b = |extra: &[&str]| {
        let mut args = vec![
            "run".to_string(),
            pb.display().to_string(),
            "-i".into(),
            inv_b.display().to_string(),
            "--json".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        sb.run_raw(&args)
    };
    // --no-generate: the required password is missing → exit 5, and no store is written.
    let r = run_b(&["--no-generate"]);
    assert_eq!(r.code, 5, "{}", r.dump());
    assert!(
        r.stderr
            .contains("'db_password' (Database password) is required"),
        "{}",
        r.dump()
    );
    assert!(r.stderr.contains("--no-generate"), "{}", r.dump());
    let secrets_dir = sb.state_dir().join("slm-wizard/secrets");
    let stores = |d: &Path| {
        std::fs::read_dir(d)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".yml"))
                    .count()
            })
            .unwrap_or(0)
    };
    assert_eq!(stores(&secrets_dir), 1);

    let r = run_b(&[]);
    r.assert_ok();
    let pw_b = sb.read("out/password.txt");
    assert_ne!(pw_a, pw_b, "two deployments got the same password");
    assert_eq!(stores(&secrets_dir), 2);
}

#[test]
fn vault_store_is_ansible_vault_and_needs_its_password() {
    let (sb, pb) = tiny();
    let vpw = sb.write("vault-pass", "s3cret-vault-pass\n");
    let vpw_s = vpw.display().to_string();
    let store = store_of(&sb, &pb);

    let first = sb.run_file(&pb, &["--vault-password-file", &vpw_s]);
    first.assert_ok();
    let pw = sb.read("out/password.txt");
    let text = std::fs::read_to_string(&store).expect("store");
    assert!(text.starts_with("$ANSIBLE_VAULT;1.1;AES256\n"), "{text}");
    assert!(!text.contains(&pw));
    assert_eq!(mode_of(&store), 0o600);
    let plain = slm_wizard::secrets::vault::decrypt(&text, b"s3cret-vault-pass").expect("decrypts");
    let plain = String::from_utf8(plain).expect("utf8");
    assert!(plain.contains(&format!("db_password: \"{pw}\"")), "{plain}");

    let ansible_vault = Path::new("/tmp/ansvenv/bin/ansible-vault");
    if ansible_vault.exists() {
        let out = std::process::Command::new(ansible_vault)
            .args(["view", "--vault-password-file", &vpw_s])
            .arg(&store)
            .output()
            .expect("run ansible-vault");
        assert!(
            out.status.success(),
            "ansible-vault view failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let shown = String::from_utf8_lossy(&out.stdout);
        assert!(shown.contains(&format!("db_password: \"{pw}\"")), "{shown}");
    } else {
        println!(
            "note: {} not found; skipping the ansible-vault view check",
            ansible_vault.display()
        );
    }

    // Re-run: reused, file unchanged.
    let second = sb.run_file(&pb, &["--vault-password-file", &vpw_s]);
    second.assert_ok();
    assert_eq!(second.changed("local1"), 0, "{}", second.dump());
    assert_eq!(std::fs::read_to_string(&store).expect("store"), text);
    assert_hidden(&sb, &[&first, &second], &pw);

    // Without the vault password (or with a wrong one): a clear error, nothing run, file untouched.
    let r = sb.run_file(&pb, &[]);
    assert_ne!(r.code, 0, "{}", r.dump());
    assert!(
        r.stderr.contains("encrypted with Ansible Vault"),
        "{}",
        r.dump()
    );
    assert!(
        r.stderr.contains(&store.display().to_string()),
        "{}",
        r.dump()
    );
    assert!(!r.stdout.contains("task_result"), "{}", r.dump());
    let wrong = sb.write("wrong-pass", "nope\n");
    let r = sb.run_file(
        &pb,
        &["--vault-password-file", &wrong.display().to_string()],
    );
    assert_ne!(r.code, 0, "{}", r.dump());
    assert!(r.stderr.contains("cannot be decrypted"), "{}", r.dump());
    assert!(r.stderr.contains("left untouched"), "{}", r.dump());
    assert_eq!(std::fs::read_to_string(&store).expect("store"), text);

    // A vault export is readable with the same password.
    let exported = sb.p("export.yml");
    let ex = cli(
        &sb,
        &[
            "secrets",
            "export",
            &pb.display().to_string(),
            "-i",
            &sb.inventory().display().to_string(),
            "--vault-password-file",
            &vpw_s,
            "-o",
            &exported.display().to_string(),
        ],
    );
    ex.assert_ok();
    let exp = std::fs::read_to_string(&exported).expect("export");
    assert!(exp.starts_with("$ANSIBLE_VAULT;1.1;AES256\n"));
    assert_eq!(mode_of(&exported), 0o600);
}

#[test]
fn a_plain_store_is_encrypted_once_a_vault_password_is_given() {
    let (sb, pb) = tiny();
    let store = store_of(&sb, &pb);
    sb.run_file(&pb, &[]).assert_ok();
    let pw = sb.read("out/password.txt");
    let vpw = sb.write("vault-pass", "another-pass\n");
    let r = sb.run_file(&pb, &["--vault-password-file", &vpw.display().to_string()]);
    r.assert_ok();
    assert!(
        r.stderr.contains("encrypted the secret store"),
        "{}",
        r.dump()
    );
    assert_eq!(r.changed("local1"), 0, "{}", r.dump());
    let text = std::fs::read_to_string(&store).expect("store");
    assert!(slm_wizard::secrets::vault::is_vault(&text));
    let plain = slm_wizard::secrets::vault::decrypt(&text, b"another-pass").expect("decrypts");
    assert!(String::from_utf8_lossy(&plain).contains(&pw));
}

#[test]
fn a_corrupted_store_is_an_error_and_stays_untouched() {
    for garbage in [
        "db_password: [unclosed\n",
        "- not\n- a mapping\n",
        "db_password: {nested: 1}\n",
        "$ANSIBLE_VAULT;1.1;AES256\nzz-not-hex\n",
    ] {
        let (sb, pb) = tiny();
        let store = store_of(&sb, &pb);
        std::fs::create_dir_all(store.parent().expect("dir")).expect("dir");
        std::fs::write(&store, garbage).expect("write");
        let vpw = sb.write("vault-pass", "pw\n");
        let r = sb.run_file(&pb, &["--vault-password-file", &vpw.display().to_string()]);
        assert_ne!(r.code, 0, "{garbage:?}\n{}", r.dump());
        assert!(!r.stderr.contains("panicked"), "{}", r.dump());
        assert!(
            r.stderr
                .starts_with(&format!("ERROR! secret store {}:", store.display())),
            "{garbage:?}\n{}",
            r.dump()
        );
        assert!(r.stderr.contains("left untouched"), "{}", r.dump());
        assert!(!r.stdout.contains("task_result"), "{}", r.dump());
        assert!(!sb.exists("out/password.txt"));
        assert_eq!(std::fs::read_to_string(&store).expect("store"), garbage);
    }
}

#[test]
fn survey_answers_are_checked_and_converted() {
    let sb = Sandbox::new();
    let pb = sb.write(
        "typed.yml",
        r#"- hosts: all
  gather_facts: no
  vars:
    port: 5432
  tasks:
    - name: types
      assert:
        that:
          - port is number
          - port == 6543
          - clients | length == 2
          - clients[1] == '10.0.0.0/8'
          - ssl is sameas true
          - mode == 'fast'
"#,
    );
    sb.write(
        "typed.survey.yml",
        r#"name: Typed
spec:
  - {variable: port, type: integer, format: port, default: 5432}
  - {variable: clients, type: list, format: cidr}
  - {variable: ssl, type: boolean, default: false}
  - {variable: mode, type: multiplechoice, choices: [slow, fast], default: fast}
"#,
    );
    // -e text becomes the question's type; `mode` comes from the survey default (not in vars).
    let r = sb.run_file(
        &pb,
        &[
            "-e",
            "port=6543",
            "-e",
            "clients=127.0.0.1/32,10.0.0.0/8",
            "-e",
            "ssl=yes",
        ],
    );
    r.assert_ok();
    for (arg, needles) in [
        ("port=70000", ["-e port:", "not a port number"]),
        ("clients=10.0.0.1", ["-e clients:", "CIDR"]),
        ("ssl=maybe", ["-e ssl:", "a boolean"]),
        ("mode=medium", ["-e mode:", "one of slow, fast"]),
    ] {
        let r = sb.run_file(&pb, &["-e", arg]);
        assert_eq!(r.code, 5, "{arg}\n{}", r.dump());
        for n in needles {
            assert!(r.stderr.contains(n), "{arg}: lacks {n:?}\n{}", r.dump());
        }
        assert!(r.stderr.contains("typed.survey.yml:"), "{}", r.dump());
    }
    // A broken survey is bad input with its position.
    sb.write(
        "typed.survey.yml",
        "name: Typed\nspec:\n  - {variable: port, type: integr}\n",
    );
    let r = sb.run_file(&pb, &[]);
    assert_eq!(r.code, 5, "{}", r.dump());
    assert!(
        r.stderr
            .contains("typed.survey.yml:3:28: unknown question type 'integr'"),
        "{}",
        r.dump()
    );
}

#[test]
fn values_from_the_inventory_are_not_generated_and_stay_hidden() {
    let sb = Sandbox::with_inventory(
        "all:\n  hosts:\n    local1:\n      ansible_connection: local\n  vars:\n    db_password: inventory-password-0123\n    api_key: inventory-api-key-4567\n",
    );
    std::fs::create_dir_all(sb.p("out")).expect("out dir");
    let pb = sb.write("tiny.yml", PLAYBOOK);
    sb.write("tiny.survey.yml", SURVEY);
    let r = sb.run_file(&pb, &[]);
    r.assert_ok();
    assert_eq!(sb.read("out/password.txt"), "inventory-password-0123");
    assert!(!r.stderr.contains("generated"), "{}", r.dump());
    assert!(!store_of(&sb, &pb).exists(), "nothing to store");
    // api_key does not look secret by its name; the survey's `secret: true` hides it.
    assert_hidden(&sb, &[&r], "inventory-api-key-4567");
}

// ---------------------------------------------------------------------------------------------
// Secrets belong to the deployment; dry runs store nothing; existing roles; rotation
// ---------------------------------------------------------------------------------------------

/// Every store file (`*.yml`) in the sandbox's secrets directory.
fn store_files(sb: &Sandbox) -> Vec<PathBuf> {
    let dir = sb.state_dir().join("slm-wizard/secrets");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "yml"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The value of `var` in a plain store file.
fn stored_value(path: &Path, var: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let prefix = format!("{var}: ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| serde_json::from_str::<String>(v).ok())
}

#[test]
fn a_copy_of_the_inventory_finds_the_same_secrets() {
    let (sb, pb) = tiny();
    let first = sb.run_file(&pb, &[]);
    first.assert_ok();
    let pw = sb.read("out/password.txt");
    let key = sb.read("out/key.txt");
    assert_eq!(store_files(&sb).len(), 1);

    // The same hosts in a file of another name (what the wizard's "save as" writes).
    let copy = sb.write(
        "elsewhere/renamed-inventory.yml",
        &std::fs::read_to_string(sb.inventory()).expect("inventory"),
    );
    let r = sb.run_raw(&[
        "run".to_string(),
        pb.display().to_string(),
        "-i".into(),
        copy.display().to_string(),
        "--json".into(),
    ]);
    r.assert_ok();
    assert!(!r.stderr.contains("generated"), "{}", r.dump());
    assert_eq!(r.changed("local1"), 0, "no new password\n{}", r.dump());
    assert_eq!(sb.read("out/password.txt"), pw);
    assert_eq!(sb.read("out/key.txt"), key);
    assert_eq!(store_files(&sb).len(), 1, "{:?}", store_files(&sb));
    let copy_s = copy.display().to_string();
    let path = cli(
        &sb,
        &["secrets", "path", &pb.display().to_string(), "-i", &copy_s],
    );
    assert_eq!(PathBuf::from(path.stdout.trim()), store_of(&sb, &pb));
}

#[test]
fn check_on_a_fresh_deployment_stores_nothing() {
    let (sb, pb) = tiny();
    let r = sb.run_file(&pb, &["--check"]);
    r.assert_ok();
    assert!(
        r.stderr
            .contains("generated db_password for this dry run only (nothing stored)"),
        "{}",
        r.dump()
    );
    assert!(store_files(&sb).is_empty(), "{:?}", store_files(&sb));
    assert!(!store_of(&sb, &pb).exists());
    // The real run then generates and stores once.
    let real = sb.run_file(&pb, &[]);
    real.assert_ok();
    assert!(real.stderr.contains("generated db_password (stored in"));
    let store = store_of(&sb, &pb);
    let text = std::fs::read_to_string(&store).expect("store");
    // A later dry run reuses it and leaves the file as it was.
    let again = sb.run_file(&pb, &["--check"]);
    again.assert_ok();
    assert!(!again.stderr.contains("generated"), "{}", again.dump());
    assert_eq!(std::fs::read_to_string(&store).expect("store"), text);
}

#[test]
fn a_store_of_the_old_per_inventory_name_is_taken_over() {
    let (sb, pb) = tiny();
    let legacy = sb.state_dir().join(format!(
        "slm-wizard/secrets/{}.yml",
        slm_wizard::secrets::store::legacy_deployment_id(&pb, Some(&sb.inventory()))
    ));
    std::fs::create_dir_all(legacy.parent().expect("dir")).expect("dir");
    std::fs::write(
        &legacy,
        "db_password: \"legacy-password-0123456789\"\napi_key: \"legacy-api-key-0123456789\"\n",
    )
    .expect("write");
    let store = store_of(&sb, &pb);
    assert_ne!(store, legacy);
    let show = cli(
        &sb,
        &[
            "secrets",
            "show",
            &pb.display().to_string(),
            "-i",
            &sb.inventory().display().to_string(),
        ],
    );
    show.assert_ok();
    assert!(
        show.stdout.contains("db_password: ********"),
        "{}",
        show.dump()
    );
    let r = sb.run_file(&pb, &[]);
    r.assert_ok();
    assert!(!r.stderr.contains("generated"), "{}", r.dump());
    assert!(r.stderr.contains("moved the secrets"), "{}", r.dump());
    assert_eq!(sb.read("out/password.txt"), "legacy-password-0123456789");
    assert_eq!(
        stored_value(&store, "db_password").as_deref(),
        Some("legacy-password-0123456789")
    );
    assert_eq!(mode_of(&store), 0o600);
    // The old file is renamed, never taken over again.
    assert!(!legacy.exists());
    let mut migrated = legacy.clone().into_os_string();
    migrated.push(".migrated");
    assert!(Path::new(&migrated).exists());
}

/// Writes a store as versions before the deployment identity named and headed them.
fn write_legacy_store(sb: &Sandbox, pb: &Path, inventory: &Path, pw: &str) -> PathBuf {
    let path = sb.state_dir().join(format!(
        "slm-wizard/secrets/{}.yml",
        slm_wizard::secrets::store::legacy_deployment_id(pb, Some(inventory))
    ));
    std::fs::create_dir_all(path.parent().expect("dir")).expect("dir");
    let canonical = std::fs::canonicalize(inventory).expect("canonical");
    std::fs::write(
        &path,
        format!(
            "# slm-wizard secrets of playbook {}, inventory {}.\n# Generated passwords are kept here so re-runs reuse them; use with ansible-playbook -e @FILE.\ndb_password: \"{pw}\"\napi_key: \"legacy-api-key-0123456789\"\n",
            pb.file_name().expect("name").to_string_lossy(),
            canonical.display()
        ),
    )
    .expect("write");
    path
}

#[test]
fn old_stores_of_copies_are_found_and_disagreeing_ones_are_not_guessed() {
    let (sb, pb) = tiny();
    let inv_text = std::fs::read_to_string(sb.inventory()).expect("inventory");
    let copy_b = sb.write("b/copy.yml", &inv_text);
    let copy_c = sb.write("c/third.yml", &inv_text);
    let run_with = |inv: &Path, extra: &[&str]| {
        let mut a = vec![
            "run".to_string(),
            pb.display().to_string(),
            "-i".into(),
            inv.display().to_string(),
            "--json".into(),
        ];
        a.extend(extra.iter().map(|s| s.to_string()));
        sb.run_raw(&a)
    };
    // Only the copy B ever ran (old version): a run with C, another copy, finds its secrets.
    let b = write_legacy_store(&sb, &pb, &copy_b, "password-of-copy-b-0123456789");
    let r = run_with(&copy_c, &["--check"]);
    r.assert_ok();
    assert!(!r.stderr.contains("generated"), "{}", r.dump());

    // A and B both ran (the bug: B generated other passwords): which one the hosts have is not
    // knowable, so a real run refuses and names both; a dry run only warns.
    let a = write_legacy_store(&sb, &pb, &sb.inventory(), "password-of-inv-a-0123456789");
    let r = run_with(&copy_c, &[]);
    assert_eq!(r.code, 5, "{}", r.dump());
    for p in [&a, &b] {
        assert!(r.stderr.contains(&p.display().to_string()), "{}", r.dump());
    }
    assert!(
        r.stderr.contains("hold different passwords"),
        "{}",
        r.dump()
    );
    assert!(!r.stdout.contains("task_result"), "{}", r.dump());
    assert!(!store_of(&sb, &pb).exists());
    let r = run_with(&copy_c, &["--check"]);
    r.assert_ok();
    assert!(
        r.stderr.contains("warning: stores of older versions"),
        "{}",
        r.dump()
    );

    // The operator moves the wrong one away: the right one is used and moved.
    std::fs::remove_file(&a).expect("rm");
    let r = run_with(&copy_c, &[]);
    r.assert_ok();
    assert_eq!(sb.read("out/password.txt"), "password-of-copy-b-0123456789");
    assert!(!r.stderr.contains("generated"), "{}", r.dump());
    assert_eq!(
        stored_value(&store_of(&sb, &pb), "db_password").as_deref(),
        Some("password-of-copy-b-0123456789")
    );
}

#[test]
fn secrets_show_without_an_inventory_finds_the_default_deployment() {
    let (sb, pb) = tiny();
    // The wizard's default inventory, relative to where slm-wizard runs.
    sb.write(
        "playbooks/inventory/local.yml",
        "all:\n  hosts:\n    localhost:\n      ansible_connection: local\n      ansible_host: 127.0.0.1\n",
    );
    let r = sb.run_raw(&[
        "run".to_string(),
        pb.display().to_string(),
        "-i".into(),
        "playbooks/inventory/local.yml".into(),
        "--json".into(),
    ]);
    r.assert_ok();
    let show = cli(&sb, &["secrets", "show", &pb.display().to_string()]);
    show.assert_ok();
    assert!(
        !show.stderr.contains("no secrets stored"),
        "{}",
        show.dump()
    );
    assert!(
        show.stdout.contains("db_password: ********"),
        "{}",
        show.dump()
    );
    assert!(show.stdout.contains("api_key: ********"), "{}", show.dump());

    // Without the default inventory, a run without -i (implicit localhost) is the same machine.
    std::fs::remove_file(sb.p("playbooks/inventory/local.yml")).expect("rm");
    let r = sb.run_raw(&["run".to_string(), pb.display().to_string(), "--json".into()]);
    r.assert_ok();
    assert!(!r.stderr.contains("generated"), "{}", r.dump());
    let show = cli(&sb, &["secrets", "show", &pb.display().to_string()]);
    assert!(
        show.stdout.contains("db_password: ********"),
        "{}",
        show.dump()
    );
}

const ROLE_PLAYBOOK: &str = r#"- hosts: all
  gather_facts: no
  tasks:
    - name: app role
      postgresql_user:
        name: "{{ app_user }}"
        password: "{{ app_password }}"
        port: "{{ pg_port }}"
        login_unix_socket: "{{ pg_sock }}"
      no_log: true
"#;

const ROLE_SURVEY: &str = r#"name: Role
spec:
  - {variable: app_password, type: password, generate: password, min: 16, required: true}
"#;

#[test]
fn a_new_password_for_an_existing_role_is_refused_and_nothing_is_stored() {
    let pg = PgCluster::shared(module_path!());
    let sb = Sandbox::with_inventory(&pg.inventory());
    let pb = sb.write("role.yml", ROLE_PLAYBOOK);
    sb.write("role.survey.yml", ROLE_SURVEY);
    let role = unique("it_existing");
    let old = "Existing-Password-0123456789";
    pg.psql(&format!("CREATE ROLE {role} LOGIN PASSWORD '{old}'"));

    let r = sb.run_file(&pb, &["-e", &format!("app_user={role}")]);
    assert_eq!(r.code, 5, "{}", r.dump());
    assert!(
        r.stderr.contains(&format!(
            "role '{role}' already exists on local1 but app_password has no stored value"
        )),
        "{}",
        r.dump()
    );
    assert!(r.stderr.contains("secrets rotate"), "{}", r.dump());
    assert!(!r.stdout.contains("task_result"), "{}", r.dump());
    assert!(store_files(&sb).is_empty(), "{:?}", store_files(&sb));
    assert_eq!(
        pg.login(&role, old, "postgres").as_deref(),
        Ok(role.as_str())
    );

    // A dry run is not refused (it changes nothing) and stores nothing either.
    let r = sb.run_file(&pb, &["-e", &format!("app_user={role}"), "--check"]);
    r.assert_ok();
    assert!(store_files(&sb).is_empty());

    // A role that does not exist yet: created with a generated, stored password.
    let fresh = unique("it_fresh");
    let r = sb.run_file(&pb, &["-e", &format!("app_user={fresh}")]);
    r.assert_ok();
    let store = store_of(&sb, &pb);
    let pw = stored_value(&store, "app_password").expect("stored");
    assert_eq!(
        pg.login(&fresh, &pw, "postgres").as_deref(),
        Ok(fresh.as_str())
    );
    assert_hidden(&sb, &[&r], &pw);
}

const ROTATE_PLAYBOOK: &str = r#"- hosts: slm_server:redis_vm
  gather_facts: no
  vars:
    slm_db_user: slm_app
    autobot_db_user: autobot_app
  tasks:
    - name: slm role
      postgresql_user:
        name: "{{ slm_db_user }}"
        password: "{{ slm_db_password }}"
        port: "{{ pg_port }}"
        login_unix_socket: "{{ pg_sock }}"
      no_log: true
    - name: autobot role
      postgresql_user:
        name: "{{ autobot_db_user }}"
        password: "{{ autobot_db_password }}"
        port: "{{ pg_port }}"
        login_unix_socket: "{{ pg_sock }}"
      no_log: true
    - name: databases
      postgresql_db:
        name: "{{ item.name }}"
        owner: "{{ item.owner }}"
        port: "{{ pg_port }}"
        login_unix_socket: "{{ pg_sock }}"
      loop:
        - {name: slm, owner: "{{ slm_db_user }}"}
        - {name: slm_users, owner: "{{ slm_db_user }}"}
        - {name: autobot_users, owner: "{{ autobot_db_user }}"}
    - name: backend settings
      template:
        src: database.env.j2
        dest: "@D@/out/database.env"
        mode: "0600"
      no_log: true
    - name: fail on request
      fail:
        msg: asked to fail
      when: fail_now | default(false) | bool
"#;

const ROTATE_ENV: &str = r#"SLM_DATABASE_URL="postgresql+asyncpg://{{ slm_db_user }}:{{ slm_db_password | urlencode }}@127.0.0.1:{{ pg_port }}/slm"
SLM_USERS_DATABASE_URL="postgresql+asyncpg://{{ slm_db_user }}:{{ slm_db_password | urlencode }}@127.0.0.1:{{ pg_port }}/slm_users"
AUTOBOT_USERS_DATABASE_URL="postgresql+asyncpg://{{ autobot_db_user }}:{{ autobot_db_password | urlencode }}@127.0.0.1:{{ pg_port }}/autobot_users"
"#;

const ROTATE_SURVEY: &str = r#"name: Rotate
spec:
  - {variable: slm_db_password, type: password, generate: password, min: 16, required: true}
  - {variable: autobot_db_password, type: password, generate: password, min: 16, required: true}
"#;

#[test]
fn secrets_rotate_sets_a_new_password_that_logs_in_and_keeps_it_pending_until_the_run_succeeds() {
    // A cluster of its own: this test owns the databases slm, slm_users and autobot_users.
    let pg = PgCluster::start();
    let sb = Sandbox::with_inventory(&format!(
        "all:\n  children:\n    slm_server:\n      hosts:\n        local1:\n          ansible_connection: local\n          pg_port: {}\n          pg_sock: {}\n    redis_vm:\n      hosts:\n        local1:\n",
        pg.port,
        pg.sock.display()
    ));
    std::fs::create_dir_all(sb.p("out")).expect("out");
    let pb = sb.write("rot/site.yml", ROTATE_PLAYBOOK);
    sb.write("rot/site.survey.yml", ROTATE_SURVEY);
    sb.write("rot/templates/database.env.j2", ROTATE_ENV);
    let first = sb.run_file(&pb, &[]);
    first.assert_ok();
    let store = store_of(&sb, &pb);
    let old = stored_value(&store, "slm_db_password").expect("stored");
    let autobot = stored_value(&store, "autobot_db_password").expect("stored");
    assert_eq!(pg.login("slm_app", &old, "slm").as_deref(), Ok("slm_app"));

    let pbs = pb.display().to_string();
    let inv = sb.inventory().display().to_string();
    let rotate = |extra: &[&str]| {
        let mut a = vec![
            "secrets",
            "rotate",
            &pbs,
            "-i",
            &inv,
            "--name",
            "slm_db_password",
            "--json",
        ];
        a.extend_from_slice(extra);
        cli(&sb, &a)
    };

    // A run that fails after setting the password: the store keeps the old value, the new one
    // is kept as pending (it is on the server now), and nothing is lost.
    let failed = rotate(&["-e", "fail_now=true"]);
    assert_eq!(failed.code, 2, "{}", failed.dump());
    assert!(
        failed.stderr.contains("did not finish"),
        "{}",
        failed.dump()
    );
    assert_eq!(
        stored_value(&store, "slm_db_password").as_deref(),
        Some(old.as_str())
    );
    let pending_file = store.with_file_name(format!(
        "{}.rotating.yml",
        store.file_stem().expect("stem").to_string_lossy()
    ));
    let pending = stored_value(&pending_file, "slm_db_password").expect("pending");
    assert_ne!(pending, old);
    assert_eq!(
        pg.login("slm_app", &pending, "slm").as_deref(),
        Ok("slm_app")
    );

    // Rotating again finishes with the pending password.
    let done = rotate(&[]);
    assert_eq!(done.code, 0, "{}", done.dump());
    assert!(
        done.stderr.contains("finishing an earlier rotation"),
        "{}",
        done.dump()
    );
    let new = stored_value(&store, "slm_db_password").expect("stored");
    assert_eq!(new, pending);
    assert!(!pending_file.exists(), "pending file left behind");
    assert_eq!(
        stored_value(&store, "autobot_db_password").as_deref(),
        Some(autobot.as_str()),
        "only --name is rotated"
    );
    // The login check ran through the deployment's settings.
    assert!(
        done.stderr
            .contains(&format!("login slm_app@127.0.0.1:{}/slm: ok", pg.port)),
        "{}",
        done.dump()
    );
    assert!(
        done.stderr.contains(&format!(
            "old password slm_app@127.0.0.1:{}/slm: refused",
            pg.port
        )),
        "{}",
        done.dump()
    );
    // New works, old fails, the env file has the new one, the other role is untouched.
    assert_eq!(pg.login("slm_app", &new, "slm").as_deref(), Ok("slm_app"));
    assert!(pg.login("slm_app", &old, "slm").is_err());
    assert_eq!(
        pg.login("autobot_app", &autobot, "autobot_users")
            .as_deref(),
        Ok("autobot_app")
    );
    let env = sb.read("out/database.env");
    assert!(
        env.contains(&format!("slm_app:{new}@")),
        "env file not rewritten"
    );
    assert!(!env.contains(&old));
    assert_hidden(&sb, &[&first, &failed, &done], &old);
    assert_hidden(&sb, &[&failed, &done], &new);

    // A normal run afterwards reuses the rotated password.
    let again = sb.run_file(&pb, &[]);
    again.assert_ok();
    assert_eq!(again.status("slm role"), "ok", "{}", again.dump());
    assert_eq!(pg.login("slm_app", &new, "slm").as_deref(), Ok("slm_app"));

    // Bad input: an unknown --name names the valid ones.
    let bad = cli(
        &sb,
        &["secrets", "rotate", &pbs, "-i", &inv, "--name", "nope"],
    );
    assert_eq!(bad.code, 5, "{}", bad.dump());
    assert!(
        bad.stderr
            .contains("valid: slm_db_password, autobot_db_password"),
        "{}",
        bad.dump()
    );
}

// ---------------------------------------------------------------------------------------------
// The project's playbook on SSH test hosts
// ---------------------------------------------------------------------------------------------

/// Store files (not locks) of a test-hosts harness.
fn hosts_stores(h: &hosts::Hosts) -> Vec<PathBuf> {
    let dir = h.p("xdg/slm-wizard/secrets");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.extension().is_some_and(|x| x == "yml")
                        && !p
                            .file_name()
                            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// `slm-wizard ARGS` with the harness's state directory.
fn hosts_cli(h: &hosts::Hosts, args: &[&str]) -> hosts::CmdOutput {
    let mut cmd = std::process::Command::new(hosts::BIN);
    cmd.args(args)
        .env("XDG_STATE_HOME", h.p("xdg"))
        .env("NO_COLOR", "1")
        .env_remove("ANSIBLE_VAULT_PASSWORD_FILE")
        .env_remove("SLM_DATABASE_URL")
        .env_remove("SLM_USERS_DATABASE_URL")
        .env_remove("AUTOBOT_USERS_DATABASE_URL");
    hosts::run_with_timeout(cmd, hosts::RUN_TIMEOUT)
}

/// Logs in from `from` to autobot_users on `server` as autobot_app (the only allowed client).
fn autobot_login(h: &hosts::Hosts, from: &str, server: &str, pw: &str) -> bool {
    h.exec(
        from,
        &[
            "env",
            &format!("PGPASSWORD={pw}"),
            "PGCONNECT_TIMEOUT=5",
            "psql",
            "-h",
            server,
            "-U",
            "autobot_app",
            "-d",
            "autobot_users",
            "-w",
            "-XAtc",
            "SELECT 1",
        ],
    )
    .ok()
}

#[test]
fn rotation_and_the_existing_role_check_on_ssh_hosts() {
    if !hosts::root_or_skip("rotation_and_the_existing_role_check_on_ssh_hosts") {
        return;
    }
    let h = hosts::Hosts::up(2, &["slm", "redis"], &[]);
    let inv = h.spec_inventory("inventory.yml");
    let pb = repo().join("playbooks/user-management-db.yml");
    h.run_path(&pb, &inv, &[]).assert_code(0);
    let stores = hosts_stores(&h);
    assert_eq!(stores.len(), 1, "{stores:?}");
    let store = &stores[0];
    let old = stored_value(store, "autobot_db_password").expect("stored");
    let slm_pw = stored_value(store, "slm_db_password").expect("stored");
    let redis = h.addr("redis").to_string();
    assert!(autobot_login(&h, "slm", &redis, &old));

    // Rotate the AutoBot password: the run sets it on redis, the env file on slm gets it, the
    // login check goes through the SLM server (the only client redis admits).
    let pbs = pb.display().to_string();
    let invs = inv.display().to_string();
    let r = hosts_cli(
        &h,
        &[
            "secrets",
            "rotate",
            &pbs,
            "-i",
            &invs,
            "--name",
            "autobot_db_password",
            "--json",
        ],
    );
    let text = format!("exit {}\n{}\n{}", r.code, r.stdout, r.stderr);
    assert_eq!(r.code, 0, "{text}");
    let new = stored_value(store, "autobot_db_password").expect("stored");
    assert_ne!(new, old);
    assert_eq!(
        stored_value(store, "slm_db_password").as_deref(),
        Some(slm_pw.as_str())
    );
    for pw in [&old, &new, &slm_pw] {
        assert!(
            !text.contains(pw.as_str()),
            "a password was printed\n{text}"
        );
    }
    assert!(
        r.stderr
            .contains(&format!("login autobot_app@{redis}:5432/autobot_users: ok")),
        "{text}"
    );
    assert!(
        r.stderr.contains(&format!(
            "old password autobot_app@{redis}:5432/autobot_users: refused"
        )),
        "{text}"
    );
    assert!(
        autobot_login(&h, "slm", &redis, &new),
        "new password refused"
    );
    assert!(
        !autobot_login(&h, "slm", &redis, &old),
        "old password still works"
    );
    let env = h.sh("slm", "cat /etc/slm/database.env");
    assert!(
        env.contains(&format!("autobot_app:{new}@")),
        "env file not rewritten"
    );

    // The store is lost: a real run would generate new passwords for roles that exist, so it
    // stops before any task with exit 5 and stores nothing.
    std::fs::remove_file(store).expect("remove the store");
    let r = h.run_path(&pb, &inv, &[]);
    r.assert_code(5);
    assert!(
        r.stderr.contains(
            "role 'slm_app' already exists on slm but slm_db_password has no stored value"
        ),
        "{}",
        r.dump()
    );
    assert!(
        r.stderr.contains(
            "role 'autobot_app' already exists on redis but autobot_db_password has no stored value"
        ),
        "{}",
        r.dump()
    );
    assert!(!r.stdout.contains("task_result"), "{}", r.dump());
    assert!(hosts_stores(&h).is_empty(), "{:?}", hosts_stores(&h));
    assert!(
        autobot_login(&h, "slm", &redis, &new),
        "the password changed"
    );
}

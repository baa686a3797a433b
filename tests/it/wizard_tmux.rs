//! End to end: the real binary in tmux goes Playbook → Variables → Hosts → Review (dry run) →
//! Execute → Health on the local connection with a tiny playbook, asserting on the screen and on
//! the file the playbook writes.

use crate::support::tmux;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use tmux::Session;

const PLAYBOOK: &str = r#"- name: Tiny
  hosts: all
  gather_facts: false
  tasks:
    - name: Write the greeting
      copy:
        dest: "{{ out_dir }}/greeting.txt"
        content: "{{ greeting }} x{{ repeat }} {{ clients | join(',') }}\n"
        mode: "0644"
    - name: Say it
      command: echo "said {{ greeting }}"
      changed_when: false
"#;

fn survey(out_dir: &Path) -> String {
    format!(
        r#"name: Tiny test
description: Writes a greeting into a file.
spec:
  - question_name: Greeting
    question_description: What to write.
    variable: greeting
    type: text
    min: 2
    max: 20
    default: hello
    required: true
  - question_name: Repeat
    question_description: How often.
    variable: repeat
    type: integer
    min: 1
    max: 10
    default: 3
    required: true
  - question_name: Token
    question_description: A secret token, generated when empty.
    variable: api_token
    type: password
    generate: password
    length: 20
    secret: true
  - question_name: Clients
    question_description: Allowed networks.
    variable: clients
    type: list
    format: cidr
    default: [127.0.0.1/32]
  - question_name: Output dir
    question_description: Where the file goes.
    variable: out_dir
    type: text
    default: "{}"
    required: true
"#,
        out_dir.display()
    )
}

#[test]
fn wizard_runs_a_playbook_end_to_end_in_tmux() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let out = root.join("out");
    std::fs::create_dir_all(root.join("playbooks/inventory")).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(root.join("playbooks/tiny.yml"), PLAYBOOK).unwrap();
    std::fs::write(root.join("playbooks/tiny.survey.yml"), survey(&out)).unwrap();
    std::fs::write(
        root.join("playbooks/inventory/test.yml"),
        "all:\n  children:\n    app:\n      hosts:\n        localhost:\n          ansible_connection: local\n",
    )
    .unwrap();
    let state = root.join("state");
    let Some(s) = Session::start(
        root,
        "-i playbooks/inventory/test.yml -p playbooks/tiny.yml",
        "e2e",
    ) else {
        return;
    };

    // 1. Playbook: preselected by -p.
    s.wait_for(&[
        "1. Playbook",
        "› Tiny test",
        "Writes a greeting into a file.",
    ]);
    s.keys(&["?"]);
    s.wait_for(&["Keys — Playbook", "filter the list"]);
    s.keys(&["Escape"]);
    s.keys(&["Enter"]);

    // 2. Variables: an invalid greeting is refused, then fixed; a list item is added.
    s.wait_for(&["Variables — Tiny test", "[hello", "(generated if empty)"]);
    s.keys(&["C-u"]);
    s.text("x");
    s.wait_for(&["shorter than the minimum 2"]);
    s.keys(&["C-s"]);
    s.wait_for(&["Greeting: \"x\" is 1 characters long"]);
    s.text("yz");
    s.keys(&["Tab", "Tab", "Tab"]);
    s.text("10.0.0.0/8");
    s.keys(&["Enter"]);
    s.wait_for(&["127.0.0.1/32, 10.0.0.0/8, [+"]);
    s.keys(&["C-s"]);

    // 3. Hosts.
    s.wait_for(&[
        "inventory playbooks/inventory/test.yml",
        "▾ app (1 host)",
        "localhost",
    ]);
    // Test the connection of the selected host: the local connection answers with its OS.
    s.keys(&["t"]);
    s.wait_for(&["✓ Linux"]);
    s.keys(&["Enter"]);

    // 4. Review: the dry run shows what would change and changes nothing.
    let review = s.wait_for(&["dry run finished", "would change: Write the greeting"]);
    assert!(review.contains("greeting = xyz"), "{review}");
    assert!(
        review.contains("+xyz x3 127.0.0.1/32,10.0.0.0/8"),
        "{review}"
    );
    assert!(review.contains("api_token = (generated"), "{review}");
    assert!(
        !out.join("greeting.txt").exists(),
        "the dry run wrote the file"
    );
    let stored = |dir: &Path| {
        std::fs::read_dir(dir)
            .map(|d| {
                d.flatten()
                    .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                    .count()
            })
            .unwrap_or(0)
    };
    assert_eq!(
        stored(&state.join("slm-wizard/secrets")),
        0,
        "the dry run must not store generated secrets"
    );
    s.keys(&["Enter"]);
    s.wait_for(&["Run the playbook for real"]);
    s.keys(&["y"]);

    // 5. Execute.
    let exec = s.wait_for(&["finished", "journal:", "Enter: go to Health"]);
    assert!(exec.contains("changed: Write the greeting"), "{exec}");
    assert!(exec.contains("said xyz"), "{exec}");
    assert!(exec.contains("2/2"), "{exec}");
    assert_eq!(
        std::fs::read_to_string(out.join("greeting.txt")).unwrap(),
        "xyz x3 127.0.0.1/32,10.0.0.0/8\n"
    );
    // The generated token was stored, and never shown.
    let stores: Vec<_> = std::fs::read_dir(state.join("slm-wizard/secrets"))
        .expect("secret store dir")
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert_eq!(stores.len(), 1);
    let stored = std::fs::read_to_string(stores[0].path()).unwrap();
    let token = stored
        .lines()
        .find_map(|l| l.strip_prefix("api_token: "))
        .expect("api_token stored")
        .trim_matches(|c| c == '\'' || c == '"')
        .to_string();
    assert_eq!(token.chars().count(), 20);
    assert!(!exec.contains(&token));

    // 6. Health.
    s.keys(&["Enter"]);
    s.wait_for(&[
        "6. Health",
        "Last run",
        "localhost",
        "ok=2 changed=1 failed=0",
    ]);
    // The live probes start: the dashboard, or why there is nothing to probe on this machine
    // (no /etc/slm/database.env and no SLM_*_DATABASE_URL).
    s.wait_until("the dashboard or its reason", |sc| {
        sc.contains("Databases") || sc.contains("health probes unavailable")
    });
    s.keys(&["q"]);
    s.wait_for(&["WIZARD-EXITED rc=0"]);
    // Logs went to the file, not the screen.
    assert!(state.join("slm-wizard/logs/wizard.log").exists());
    drop(s);

    // The next start resumes: the inventory and the non-secret answers of the last run.
    let Some(s) = Session::start(root, "", "e2e-resume") else {
        return;
    };
    s.wait_for(&["› Tiny test"]);
    s.keys(&["Enter"]);
    s.wait_for(&[
        "[xyz",
        "127.0.0.1/32, 10.0.0.0/8, [+",
        "(generated if empty)",
    ]);
    s.keys(&["C-s"]);
    s.wait_for(&["inventory playbooks/inventory/test.yml", "▾ app (1 host)"]);
    s.keys(&["q"]);
    s.wait_for(&["WIZARD-EXITED rc=0"]);
}

#[test]
fn cancel_in_tmux_stops_before_the_next_task() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let marker = root.join("marker");
    write_local_inventory(root);
    std::fs::write(
        root.join("playbooks/slow.yml"),
        format!(
            "- name: Slow\n  hosts: all\n  gather_facts: false\n  tasks:\n\
             \x20   - name: First nap\n      command: sleep 5\n\
             \x20   - name: Second nap\n      command: sleep 5\n\
             \x20   - name: Mark\n      command: touch {}\n",
            marker.display()
        ),
    )
    .unwrap();
    let Some(s) = Session::start(root, "-p playbooks/slow.yml", "cancel") else {
        return;
    };
    run_without_survey(&s, "slow.yml");
    s.wait_for(&["running", "First nap"]);
    // q asks while a run is going; n stays.
    s.keys(&["q"]);
    s.wait_for(&["A run is going"]);
    s.keys(&["n"]);
    s.keys(&["c"]);
    s.wait_for(&["Cancel the run?"]);
    s.keys(&["y"]);
    let screen = s.wait_for(&["cancelled", "journal:"]);
    assert!(!screen.contains("Mark"), "{screen}");
    assert!(!marker.exists(), "a task started after the cancel");
    s.keys(&["q"]);
    s.wait_for(&["WIZARD-EXITED rc=0"]);
}

/// The bundled-style local inventory under `root/playbooks/inventory/local.yml`.
fn write_local_inventory(root: &Path) {
    std::fs::create_dir_all(root.join("playbooks/inventory")).unwrap();
    std::fs::write(
        root.join("playbooks/inventory/local.yml"),
        "all:\n  hosts:\n    localhost:\n      ansible_connection: local\n",
    )
    .unwrap();
}

/// From the preselected playbook `file` (no survey) through Hosts and the dry run to the
/// confirmed real run.
fn run_without_survey(s: &Session, file: &str) {
    s.wait_for(&[&format!("› {file}")]);
    s.keys(&["Enter"]);
    s.wait_for(&["has no survey"]);
    s.keys(&["Enter"]);
    s.wait_for(&["▾ ungrouped (1 host)"]);
    s.keys(&["Enter"]);
    s.wait_for(&["dry run finished"]);
    s.keys(&["Enter"]);
    s.wait_for(&["Run the playbook for real"]);
    s.keys(&["y"]);
}

/// The second `c` kills the command that is running (and what it started), and the run ends
/// at once instead of after the command.
#[test]
fn second_cancel_kills_the_running_command() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // A distinctive duration to find the process by.
    let nap = format!(
        "{}.{}",
        280 + std::process::id() % 97,
        std::process::id() % 10
    );
    write_local_inventory(root);
    std::fs::write(
        root.join("playbooks/long.yml"),
        format!(
            "- name: Long\n  hosts: all\n  gather_facts: false\n  tasks:\n\
             \x20   - name: Long nap\n      shell: sleep {nap}; echo never\n"
        ),
    )
    .unwrap();
    let Some(s) = Session::start(root, "-p playbooks/long.yml", "kill") else {
        return;
    };
    let running = || {
        Command::new("pgrep")
            .args(["-f", &format!("sleep {nap}")])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    run_without_survey(&s, "long.yml");
    s.wait_for(&["running", "Long nap"]);
    let t0 = Instant::now();
    while !running() {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "the nap never started"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    s.keys(&["c"]);
    s.wait_for(&["Cancel the run?"]);
    s.keys(&["y"]);
    s.wait_for(&["cancelling"]);
    assert!(running(), "a plain cancel lets the running command finish");
    s.keys(&["c"]);
    s.wait_for(&["Kill the running commands?"]);
    s.keys(&["y"]);
    let screen = s.wait_for(&["cancelled", "journal:"]);
    assert!(screen.contains("killed"), "{screen}");
    let t0 = Instant::now();
    while running() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "sleep {nap} still runs after the kill"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    s.keys(&["q"]);
    s.wait_for(&["WIZARD-EXITED rc=0"]);
}

/// The terminals operators use: the first screen draws under each TERM (with and without
/// colour), and a resize to 80×24 redraws the whole screen at the new size.
#[test]
fn draws_under_common_terms_and_redraws_on_resize() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("playbooks")).unwrap();
    std::fs::write(root.join("playbooks/tiny.yml"), PLAYBOOK).unwrap();
    for (i, term) in ["xterm", "screen", "tmux-256color", "xterm-16color", "vt100"]
        .iter()
        .enumerate()
    {
        // Odd runs keep colour on (NO_COLOR empty counts as unset).
        let colour = if i % 2 == 1 { "NO_COLOR=" } else { "" };
        let env = format!("TERM={term} {colour}");
        let Some(s) = Session::start_with_env(root, "", &format!("term{i}"), &env) else {
            return;
        };
        s.wait_for(&["1. Playbook", "tiny.yml"]);
        let out = tmux::tmux()
            .args(["resize-window", "-t", s.name(), "-x", "80", "-y", "24"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{term}: resize: {out:?}");
        // The key bar sits on the new last line and nothing of the 120-column frame is left.
        // (Right after the resize tmux shows the old frame's bottom 24 rows, key bar included:
        // only a redrawn frame also has the step bar on its first line.)
        let screen = s.wait_until(&format!("{term}: redraw at 80×24"), |sc| {
            let lines: Vec<&str> = sc.lines().collect();
            lines.len() >= 24
                && lines[0].contains("1. Playbook")
                && lines[23].contains("quit")
                && lines.iter().all(|l| l.chars().count() <= 80)
        });
        assert!(screen.contains("Playbook"), "{term}:\n{screen}");
        s.keys(&["q"]);
        s.wait_for(&["WIZARD-EXITED rc=0"]);
    }
}

/// Playbooks without a survey get their form from the playbook: found recursively under
/// `--playbooks`, a role's `meta/argument_specs.yml` gives typed fields with choices (an invalid
/// one is refused, saying what is valid), and `-p` takes a playbook outside those directories,
/// whose play vars make a form whose answers the native engine runs with.
#[test]
fn derived_forms_for_playbooks_without_survey() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let out = root.join("out");
    std::fs::create_dir_all(&out).unwrap();
    write_local_inventory(root);
    let write = |rel: &str, text: &str| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    write(
        "site/web/roles/web/meta/argument_specs.yml",
        "argument_specs:\n  main:\n    options:\n      web_mode:\n        type: str\n        choices: [dev, prod]\n        default: dev\n        description: How the site runs.\n      web_port:\n        type: int\n        default: 8080\n      web_users:\n        type: list\n        elements: str\n        choices: [alice, bob]\n        description: Who may log in.\n",
    );
    write("site/web/roles/web/tasks/main.yml", "- debug: msg=hi\n");
    write(
        "site/web/site.yml",
        "- name: Web servers\n  hosts: all\n  roles:\n    - web\n",
    );
    write("site/web/group_vars/all.yml", "- not a playbook\n");
    write(
        "extra/solo.yml",
        &format!(
            "- name: Solo\n  hosts: all\n  gather_facts: false\n  vars:\n    greeting: hello\n    repeat: 2\n    out_dir: {}\n  tasks:\n    - name: Write the greeting\n      copy:\n        dest: \"{{{{ out_dir }}}}/greeting.txt\"\n        content: \"{{{{ greeting }}}} x{{{{ repeat }}}}\\n\"\n",
            out.display()
        ),
    );
    let Some(s) = Session::start(
        root,
        "-i playbooks/inventory/local.yml --playbooks site -p extra/solo.yml",
        "h11-derived",
    ) else {
        return;
    };

    // 1. Playbook: -p's file outside --playbooks is listed and preselected; the role's playbook
    // is found below site/ (its role's tasks and group_vars are not playbooks).
    let list = s.wait_for(&[
        "playbooks in site/",
        "› solo.yml  extra/solo.yml  (form from the playbook)",
        "site.yml  web/site.yml  (form from the playbook)",
        "Plays: Solo.",
    ]);
    assert!(
        !list.contains("main.yml") && !list.contains("all.yml"),
        "{list}"
    );

    // 2. The role's argument spec: typed fields, and a choice that is not one is refused.
    s.keys(&["Down", "Enter"]);
    s.wait_for(&["Variables — site.yml", "(dev) prod", "[8080", "web_users"]);
    s.keys(&["Tab", "Tab"]);
    s.text("carol");
    s.keys(&["Enter"]);
    s.wait_for(&["\"carol\" is not one of the choices", "alice, bob"]);
    s.keys(&["C-s"]);
    s.wait_for(&["web_users: \"carol\" is not one of the choices"]);

    // 3. Back to the -p playbook: its play vars are the form; a changed answer is run natively.
    s.keys(&["Escape"]);
    s.wait_for(&["1. Playbook"]);
    s.keys(&["Up", "Enter"]);
    s.wait_for(&["Variables — solo.yml", "[hello", "[2"]);
    s.keys(&["C-u"]);
    s.text("hi");
    s.keys(&["C-s"]);
    s.wait_for(&["▾ ungrouped (1 host)"]);
    s.keys(&["Enter"]);
    let review = s.wait_for(&["dry run finished"]);
    assert!(review.contains("greeting = hi"), "{review}");
    s.keys(&["Enter"]);
    s.wait_for(&["Run the playbook for real"]);
    s.keys(&["y"]);
    s.wait_for(&["finished", "journal:"]);
    assert_eq!(
        std::fs::read_to_string(out.join("greeting.txt")).unwrap(),
        "hi x2\n"
    );
    s.keys(&["q"]);
    s.wait_for(&["WIZARD-EXITED rc=0"]);
}

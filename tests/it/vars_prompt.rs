//! `vars_prompt` in the native engine, against ansible-playbook on the same playbooks: `-e`
//! answers, stdin that is not a terminal, a real pty typing answers (private + confirm mismatch
//! then match, default on empty input, encrypt, unsafe), bad entries with file:line:col, the
//! wizard's rule (nothing may prompt: an unanswered question without default is refused at plan
//! time), and a private answer never reaching the journal.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::support::cmd::ansible_playbook;
use crate::support::cmd::{BIN, Sandbox};

/// Runs `cmd` on a pty (python3's `pty`), typing the next answer whenever the output so far ends
/// with a prompt (`": "`); the transcript, CRLF as LF, and the exit code.
const DRIVER: &str = r#"
import json, os, pty, select, sys, time
answers = json.loads(sys.argv[1]); cmd = sys.argv[2:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(cmd[0], cmd)
out = b""; seen = 0; deadline = time.time() + 90
while time.time() < deadline:
    r, _, _ = select.select([fd], [], [], 0.3)
    if r:
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        out += data
        continue
    if answers and out[seen:].endswith(b": "):
        seen = len(out)
        os.write(fd, answers.pop(0).encode() + b"\r")
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace").replace("\r\n", "\n"))
sys.stdout.write("\nEXIT %d\n" % os.waitstatus_to_exitcode(status))
"#;

fn on_pty(sb: &Sandbox, answers: &[&str], cmd: &[String]) -> String {
    let out = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(DRIVER)
        .arg(serde_json::to_string(answers).expect("answers as JSON"))
        .args(cmd)
        .current_dir(sb.path())
        .env("XDG_STATE_HOME", sb.state_dir())
        .env("NO_COLOR", "1")
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_PYTHON_INTERPRETER", "/usr/bin/python3")
        .stdin(Stdio::null())
        .output()
        .expect("run python3 pty driver");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ours(sb: &Sandbox, pb: &Path, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = vec![
        BIN.into(),
        "run".into(),
        pb.display().to_string(),
        "-i".into(),
        sb.inventory().display().to_string(),
        "--engine".into(),
        "native".into(),
    ];
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

fn theirs(sb: &Sandbox, ansible: &Path, pb: &Path, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = vec![
        ansible.display().to_string(),
        "-i".into(),
        sb.inventory().display().to_string(),
        pb.display().to_string(),
    ];
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

/// Runs with stdin not a terminal (/dev/null): stdout + stderr, and the exit code.
fn headless(sb: &Sandbox, cmd: &[String]) -> (String, i32) {
    let out = Command::new(&cmd[0])
        .args(&cmd[1..])
        .current_dir(sb.path())
        .env("XDG_STATE_HOME", sb.state_dir())
        .env("NO_COLOR", "1")
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_PYTHON_INTERPRETER", "/usr/bin/python3")
        .stdin(Stdio::null())
        .output()
        .expect("run");
    (
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        out.status.code().unwrap_or(-1),
    )
}

/// The `msg` values debug tasks printed, in order (both engines print `"msg": "…"`).
fn msgs(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let at = l.find("\"msg\": ")?;
            serde_json::from_str::<String>(l[at + 7..].trim().trim_end_matches(',')).ok()
        })
        .collect()
}

/// The prompt lines of a transcript: what was printed between the first play's debug result
/// and the second PLAY banner (the questions, the echoed visible answers, the mismatch notice).
fn prompts(text: &str) -> Vec<String> {
    let Some(at) = text.find("first play") else {
        return Vec::new();
    };
    let rest = &text[at..];
    let start = rest.find("\n}\n").map_or(0, |i| i + 3);
    let end = rest.find("PLAY [").unwrap_or(rest.len());
    rest[start..end.max(start)]
        .lines()
        .map(|l| l.trim_end().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

const PROMPTS: &str = r#"- hosts: all
  gather_facts: false
  tasks:
    - debug: msg="first play"
- hosts: all
  gather_facts: false
  vars:
    who: "{{ 'team' }}"
  vars_prompt:
    - name: user
      prompt: "User name for {{ who }}"
      private: false
      default: alice
    - name: pw
      prompt: Password
      confirm: true
    - name: raw
      unsafe: true
      private: false
    - name: cooked
      private: false
    - name: quiet
      prompt: Quiet
      default: "{{ who }}-d"
  tasks:
    - debug: msg="user={{ user }} pw={{ pw }} raw={{ raw }} cooked={{ cooked }} quiet={{ quiet }}"
- hosts: all
  gather_facts: false
  tasks:
    - debug: msg="{{ user | default('not in a later play') }}"
"#;

#[test]
fn terminal_prompts_as_ansible_asks_them() {
    let sb = Sandbox::new();
    let pb = sb.write("prompts.yml", PROMPTS);
    // Empty user (default), pw mismatch then match, unsafe raw, templated cooked, empty quiet.
    let answers = [
        "",
        "Sw0rdfish-17",
        "other",
        "Sw0rdfish-17",
        "Sw0rdfish-17",
        "{{ user }}!",
        "{{ user }}!",
        "",
    ];
    let mine = on_pty(&sb, &answers, &ours(&sb, &pb, &[]));
    assert!(mine.contains("EXIT 0"), "{mine}");
    let got = msgs(&mine);
    assert_eq!(
        got,
        vec![
            "first play".to_string(),
            "user=alice pw=******** raw={{ user }}! cooked=alice! quiet=team-d".into(),
            "not in a later play".into(),
        ],
        "{mine}"
    );
    assert!(
        !mine.contains("Sw0rdfish-17"),
        "the private answer is never echoed nor shown: {mine}"
    );
    // The prompt comes after the first play's output, before the second PLAY banner.
    let first = mine.find("first play").unwrap_or(usize::MAX);
    let asked = mine.find("User name for team [alice]: ").unwrap_or(0);
    let banner = mine.rfind("PLAY [all]").unwrap_or(0);
    assert!(first < asked && asked < banner, "{mine}");
    assert!(!sb.journal_files().is_empty(), "the run keeps a journal");
    for s in sb.journal_files() {
        let text = std::fs::read_to_string(&s).unwrap_or_default();
        assert!(
            !text.contains("Sw0rdfish-17"),
            "journal {}: {text}",
            s.display()
        );
    }
    let Some(ansible) = ansible_playbook() else {
        return;
    };
    let theirs_out = on_pty(&sb, &answers, &theirs(&sb, &ansible, &pb, &[]));
    assert!(theirs_out.contains("EXIT 0"), "{theirs_out}");
    assert_eq!(
        prompts(&mine),
        prompts(&theirs_out),
        "{mine}\n---\n{theirs_out}"
    );
    let theirs_msgs: Vec<String> = msgs(&theirs_out)
        .into_iter()
        .map(|m| m.replace("Sw0rdfish-17", "********"))
        .collect();
    assert_eq!(got, theirs_msgs, "{mine}\n---\n{theirs_out}");
}

#[test]
fn encrypt_hashes_as_passlib_does() {
    let sb = Sandbox::new();
    let pb = sb.write(
        "enc.yml",
        "- hosts: all\n  gather_facts: false\n  vars_prompt:\n    - name: hashed\n      prompt: Hash me\n      encrypt: sha512_crypt\n      salt: saltsalt\n    - name: salted\n      encrypt: sha512_crypt\n      salt_size: 8\n      default: x\n  tasks:\n    - debug: msg=\"{{ hashed }}\"\n    - debug: msg=\"{{ salted }}\"\n",
    );
    let out = on_pty(&sb, &["h1", ""], &ours(&sb, &pb, &[]));
    // ansible-playbook 2.19.14 with passlib 1.7.4 typed "h1" (sha512_crypt: 656000 rounds).
    let got = msgs(&out);
    assert_eq!(
        got.first().map(String::as_str),
        Some(
            "$6$rounds=656000$saltsalt$nYizmsqkBFfbBfQhe0UjLvUbeomZaFGHtdKHla0o4Ye/5XlVgayfHPRralMqkOUdzvPb4jluzi55P3pXJmEY40"
        ),
        "{out}"
    );
    let salted = got.get(1).cloned().unwrap_or_default();
    let parts: Vec<&str> = salted.split('$').collect();
    assert_eq!(parts.get(2), Some(&"rounds=656000"), "{out}");
    assert_eq!(parts.get(3).map(|s| s.len()), Some(8), "{out}");
}

const QUIET: &str = r#"- hosts: all
  gather_facts: false
  vars:
    base: fromvars
  vars_prompt:
    - name: a
      prompt: "Give A ({{ base }})"
      private: false
    - name: b
      default: "{{ base }}-x"
    - name: c
      prompt: C
      default: 5
  tasks:
    - debug: msg="a={{ a }} b={{ b }} c={{ c }} {{ c is string }}"
"#;

#[test]
fn stdin_not_a_terminal_warns_once_and_takes_defaults() {
    let sb = Sandbox::new();
    let pb = sb.write("quiet.yml", QUIET);
    let (mine, code) = headless(&sb, &ours(&sb, &pb, &[]));
    assert_eq!(code, 0, "{mine}");
    const WARN: &str = "Not prompting as we are not in interactive mode";
    assert_eq!(mine.matches(WARN).count(), 1, "{mine}");
    assert_eq!(
        msgs(&mine),
        vec!["a=None b=fromvars-x c=5 True".to_string()],
        "{mine}"
    );
    let Some(ansible) = ansible_playbook() else {
        return;
    };
    let (theirs_out, code) = headless(&sb, &theirs(&sb, &ansible, &pb, &[]));
    assert_eq!(code, 0, "{theirs_out}");
    assert_eq!(theirs_out.matches(WARN).count(), 1, "{theirs_out}");
    assert_eq!(msgs(&mine), msgs(&theirs_out));
}

#[test]
fn extra_vars_answer_without_asking() {
    let sb = Sandbox::new();
    let pb = sb.write("quiet.yml", QUIET);
    let args = ["-e", "a=1", "-e", "b=Bvalue-22", "-e", "c=Cvalue-33"];
    // b and c are private questions: their answers are secrets, masked as the wizard's are.
    let want = vec!["a=1 b=******** c=******** True".to_string()];
    let (mine, code) = headless(&sb, &ours(&sb, &pb, &args));
    assert_eq!(code, 0, "{mine}");
    assert!(!mine.contains("Not prompting"), "{mine}");
    assert_eq!(msgs(&mine), want, "{mine}");
    // And on a terminal nothing is asked either.
    let typed = on_pty(&sb, &["nope"], &ours(&sb, &pb, &args));
    assert_eq!(msgs(&typed), want, "{typed}");
    let Some(ansible) = ansible_playbook() else {
        return;
    };
    let (theirs_out, _) = headless(&sb, &theirs(&sb, &ansible, &pb, &args));
    let theirs_msgs: Vec<String> = msgs(&theirs_out)
        .into_iter()
        .map(|m| {
            m.replace("Bvalue-22", "********")
                .replace("Cvalue-33", "********")
        })
        .collect();
    assert_eq!(theirs_msgs, want, "{theirs_out}");
}

#[test]
fn bad_entries_are_refused_with_their_position() {
    let sb = Sandbox::new();
    for (body, want) in [
        (
            "    - prompt: x\n",
            "pb:4:7: vars_prompt entry without 'name'",
        ),
        (
            "    - name: x\n      promt: y\n",
            "pb:5:7: unknown key 'promt' in vars_prompt; did you mean 'prompt'?",
        ),
        (
            "    - name: x\n      encrypt: sha999\n",
            "pb:5:16: vars_prompt encrypt 'sha999' is not a hash scheme; valid: sha512_crypt",
        ),
        (
            "    - name: x\n      confirm: maybe\n",
            "pb:5:16: 'vars_prompt confirm' must be a boolean",
        ),
    ] {
        let pb = sb.write(
            "pb",
            &format!("- hosts: all\n  gather_facts: false\n  vars_prompt:\n{body}  tasks: []\n"),
        );
        let (out, code) = headless(&sb, &ours(&sb, &pb, &[]));
        assert_eq!(code, 5, "{out}");
        let shown = out.replace(&format!("{}/", sb.d()), "");
        assert!(shown.contains(want), "want {want:?} in {shown}");
    }
    // A scheme only ansible-playbook hashes with: `auto` hands the playbook to it.
    let pb = sb.write(
        "bc.yml",
        "- hosts: all\n  gather_facts: false\n  vars_prompt:\n    - name: x\n      encrypt: bcrypt\n  tasks: []\n",
    );
    let (out, code) = headless(&sb, &ours(&sb, &pb, &[]));
    assert_eq!(code, 5, "{out}");
    assert!(
        out.contains("not implemented by slm-wizard's engine"),
        "{out}"
    );
}

#[test]
fn nothing_to_prompt_with_refuses_an_unanswered_question_at_plan_time() {
    let sb = Sandbox::new();
    let pb = sb.write(
        "w.yml",
        "- hosts: all\n  gather_facts: false\n  vars_prompt:\n    - name: given\n    - name: defaulted\n      default: d\n    - name: missing\n      prompt: Missing\n  tasks: []\n",
    );
    let request = |extra: &[&str]| slm_wizard::engine::RunRequest {
        playbook: pb.clone(),
        inventory: Some(sb.inventory()),
        extra_vars: extra.iter().map(|s| s.to_string()).collect(),
        prompter: None,
        ..Default::default()
    };
    let err = match slm_wizard::engine::plan(request(&["given=1"])) {
        Err(e) => e.to_string(),
        Ok(_) => String::from("planned"),
    };
    assert!(
        err.contains("w.yml:7:7") && err.contains("vars_prompt 'missing' has no answer"),
        "{err}"
    );
    assert!(slm_wizard::engine::plan(request(&["given=1", "missing=2"])).is_ok());
}

/// The wizard: the form asks the play's prompts, its answers reach the native run as extra vars,
/// and nothing is ever prompted on the wizard's terminal; the private answer stays out of the
/// journal and the screen.
#[test]
fn wizard_form_answers_the_prompts() {
    use crate::support::tmux::Session;
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    let out = root.join("out");
    std::fs::create_dir_all(root.join("playbooks/inventory")).expect("dirs");
    std::fs::create_dir_all(&out).expect("out dir");
    std::fs::write(
        root.join("playbooks/inventory/local.yml"),
        "all:\n  hosts:\n    localhost:\n      ansible_connection: local\n",
    )
    .expect("inventory");
    std::fs::write(
        root.join("playbooks/pin.yml"),
        format!(
            "- name: Pin\n  hosts: all\n  gather_facts: false\n  vars_prompt:\n    - name: pin\n      prompt: The PIN\n    - name: who\n      prompt: Who\n      private: false\n      default: crew\n  tasks:\n    - name: Write it\n      copy:\n        dest: {}/pin.txt\n        content: \"{{{{ who }}}}:{{{{ pin }}}}\"\n",
            out.display()
        ),
    )
    .expect("playbook");
    let Some(s) = Session::start(
        root,
        "-i playbooks/inventory/local.yml -p playbooks/pin.yml --engine native",
        "vprompt",
    ) else {
        return;
    };
    s.wait_for(&["› pin.yml"]);
    s.keys(&["Enter"]);
    s.wait_for(&["Variables — pin.yml", "The PIN"]);
    s.text("Pin-4711-x");
    s.keys(&["C-s"]);
    s.wait_for(&["▾ ungrouped (1 host)"]);
    s.keys(&["Enter"]);
    s.wait_for(&["dry run finished"]);
    s.keys(&["Enter"]);
    s.wait_for(&["Run the playbook for real"]);
    s.keys(&["y"]);
    let done = s.wait_for(&["finished", "journal:"]);
    assert!(!done.contains("Pin-4711-x"), "{done}");
    assert!(!done.contains("Not prompting"), "{done}");
    assert_eq!(
        std::fs::read_to_string(out.join("pin.txt")).unwrap_or_default(),
        "crew:Pin-4711-x"
    );
    let runs = root.join("state/slm-wizard/runs");
    let journals: Vec<PathBuf> = std::fs::read_dir(&runs)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    assert!(!journals.is_empty(), "no journal in {}", runs.display());
    for j in journals {
        let text = std::fs::read_to_string(&j).unwrap_or_default();
        assert!(!text.contains("Pin-4711-x"), "{}: {text}", j.display());
    }
    s.keys(&["q"]);
    s.wait_for(&["WIZARD-EXITED rc=0"]);
}

/// `auto` hands a playbook the native engine refuses (an encrypt scheme only passlib has) to
/// ansible-playbook, which runs without a terminal: an unanswered question is refused up front.
#[test]
fn ansible_fallback_needs_the_answers_up_front() {
    let Some(ansible) = ansible_playbook() else {
        return;
    };
    let sb = Sandbox::new();
    let pb = sb.write(
        "bc.yml",
        "- hosts: all\n  gather_facts: false\n  vars_prompt:\n    - name: x\n      encrypt: bcrypt\n  tasks:\n    - debug: msg=hi\n",
    );
    let run = |extra: &[&str]| {
        let mut cmd: Vec<String> = vec![
            BIN.into(),
            "run".into(),
            pb.display().to_string(),
            "-i".into(),
            sb.inventory().display().to_string(),
        ];
        cmd.extend(extra.iter().map(|s| s.to_string()));
        let out = Command::new(&cmd[0])
            .args(&cmd[1..])
            .current_dir(sb.path())
            .env("XDG_STATE_HOME", sb.state_dir())
            .env("ANSIBLE_PLAYBOOK", &ansible)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .expect("run");
        (
            String::from_utf8_lossy(&out.stderr).into_owned(),
            out.status.code().unwrap_or(-1),
        )
    };
    let (err, code) = run(&[]);
    assert_eq!(code, 5, "{err}");
    assert!(
        err.contains("bc.yml:4:7: vars_prompt 'x' has no answer and no default"),
        "{err}"
    );
    let (err, code) = run(&["-e", "x=given"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("engine: ansible"), "{err}");
}
